"""The end-of-turn bonus near the token budget (alignment_engine/ending.py) on hand-computed examples."""

import pytest
import torch

from alignment_engine import GenerationConfig, GenerationRequest, InvalidParameterError
from alignment_engine.ending import BudgetEnding, end_bonus_at, ends_sentence
from alignment_engine.processors import budget_ending, processors_for


@pytest.mark.parametrize(
    "text",
    ["It is done.", "Really?", "Wow!", 'He said "yes."', "(see above.)", "Done.\n\n", "- Green tea\n", "Wait…"],
)
def test_sentence_and_line_ends_are_places_to_stop(text):
    assert ends_sentence(text)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "It is", "Here are some tips:\n", "1.", "It costs 3.", "- \n", "first,\n", "in the", "\n\n"],
)
def test_mid_sentence_list_openers_and_numbers_are_not(text):
    assert not ends_sentence(text)


def test_the_bonus_grows_linearly_over_the_last_part_of_the_budget():
    # budget 10, start 0.5: nothing for the first 5 tokens, then 2, 4, 6, 8, 10 (bonus 10)
    assert [end_bonus_at(t, 10, 10.0, 0.5) for t in range(10)] == [0, 0, 0, 0, 0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert end_bonus_at(9, 10, 0.0, 0.5) == 0.0  # off
    assert end_bonus_at(0, 4, 8.0, 0.0) == 2.0  # from the first token on
    assert end_bonus_at(3, 4, 8.0, 1.0) == 0.0  # start at the budget's end: never


PIECES = ["<end>", " It", " is", " done", ".", " Here", ":", "\n"]


def decode(ids, skip_special_tokens=True):
    return "".join(PIECES[token] for token in ids if not (skip_special_tokens and token == 0))


def test_the_processor_adds_the_bonus_to_the_end_token_of_both_rows_only_at_a_sentence_end():
    ending = BudgetEnding(decode, end_token=0, budget=4, bonus=8.0, start=0.5)
    z, z_p = torch.zeros(len(PIECES)), torch.zeros(len(PIECES))
    # 3 tokens generated of a budget of 4, start 2: bonus 8 * (3 - 2 + 1) / 2 = 8; " It is." ends a sentence
    z, z_p = ending([1, 2, 4], z, z_p)
    assert z[0] == 8.0 and z_p[0] == 8.0 and z[1:].abs().sum() == 0 and z_p[1:].abs().sum() == 0
    assert ending.last_bonus == 8.0
    z, z_p = ending([1, 2, 3], torch.zeros(len(PIECES)), torch.zeros(len(PIECES)))  # mid-sentence
    assert z.abs().sum() == 0 and z_p.abs().sum() == 0 and ending.last_bonus == 0.0
    z, z_p = ending([5, 6, 7], torch.zeros(len(PIECES)), torch.zeros(len(PIECES)))  # "Here:\n" introduces more
    assert z.abs().sum() == 0
    z, z_p = ending([4], torch.zeros(len(PIECES)), torch.zeros(len(PIECES)))  # before the start: nothing
    assert z.abs().sum() == 0


class _Tokenizer:
    eos_token_id = 0
    decode = staticmethod(decode)


def request(**config):
    return GenerationRequest(messages=[{"role": "user", "content": "hi"}], config=GenerationConfig(**config))


def test_settings_switch_it_off_and_bound_it():
    assert budget_ending(request(end_bonus=0), _Tokenizer(), {0}) is None
    assert budget_ending(request(end_bonus=5), _Tokenizer(), set()) is None  # no end token known
    with pytest.raises(InvalidParameterError) as error:
        GenerationConfig(end_bonus=-1)
    assert error.value.field == "end_bonus"
    with pytest.raises(InvalidParameterError) as error:
        GenerationConfig(end_bonus_start=1.5)
    assert error.value.field == "end_bonus_start"


def test_it_runs_after_the_repetition_guard_and_goes_to_the_tokenizers_own_end_token():
    processors = processors_for(request(end_bonus=5, end_bonus_start=0.25), None, _Tokenizer(), {0, 7})
    assert isinstance(processors[-1], BudgetEnding) and processors[-1].end_token == 0
    assert processors[-1].decode([0, 1, 2, 4]) == " It is."
