"""Incremental decoding: no mojibake, stop strings never leak into deltas."""

import pytest

from alignment_engine.text import IncrementalText

pytestmark = pytest.mark.slow


def feed(tokenizer, text, stop=()):
    decoder = IncrementalText(tokenizer, stop)
    deltas = []
    for token in tokenizer(text, add_special_tokens=False)["input_ids"]:
        deltas.append(decoder.push(token))
        if decoder.stopped:
            break
    deltas.append(decoder.flush())
    return deltas, decoder


def test_multibyte_characters_arrive_whole(engine):
    text = "Crème brûlée 😀 東京 ok"
    deltas, decoder = feed(engine.tokenizer, text)
    assert "".join(deltas) == text == decoder.text
    assert not any("\ufffd" in delta for delta in deltas)


def test_stop_string_is_cut_and_never_streamed(engine):
    deltas, decoder = feed(engine.tokenizer, "First line.\nEND of it", stop=("\nEND",))
    assert decoder.stopped
    assert decoder.text == "First line."
    assert "".join(deltas) == "First line."
