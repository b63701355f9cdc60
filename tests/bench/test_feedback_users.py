"""The simulated users of the feedback benchmark: each editor applies its preference, idempotently."""

from __future__ import annotations

import pytest

from alignment_engine.rules import parse_rule, rule_satisfied
from bench.feedback_users import (
    DEFAULT_PREFERENCES,
    SpecError,
    editor_from_spec,
    gain,
    sentences,
    word_edit_distance,
)

REPLY = (
    "Great question! Making a home welcoming on a budget is very doable. Here are some ideas:\n\n"
    "1. **Declutter**: Remove what you don't need. A tidy room feels very calm.\n"
    "2. **Plants**: They bring color and life 🌿.\n"
    "3. **Lighting**: Warm lamps make evenings cozy!\n\n"
    "Very small changes add up to a big difference."
)


@pytest.mark.parametrize("spec", DEFAULT_PREFERENCES, ids=lambda spec: str(spec))
def test_each_default_editor_changes_the_reply_so_that_its_rule_holds_and_is_idempotent(spec):
    editor = editor_from_spec(spec)
    edited = editor.edit(REPLY)
    assert edited != REPLY
    assert editor.edit(edited) == edited
    assert editor.feedback(edited) == {"rating": "up"}
    assert editor.feedback(REPLY) == {"rating": "down", "corrected_text": edited}
    if spec["type"] != "max_sentences":  # the engine counts a list number as a sentence of its own
        assert rule_satisfied(parse_rule(dict(spec)), edited)


def test_max_sentences_keeps_the_first_sentences_as_written():
    edited = editor_from_spec({"type": "max_sentences", "value": 3}).edit(REPLY)
    assert edited == "Great question! Making a home welcoming on a budget is very doable. Here are some ideas:"
    assert len(sentences(REPLY)) == 8
    assert editor_from_spec({"type": "max_sentences", "value": 4}).edit(REPLY).endswith("Remove what you don't need.")


def test_bullets_put_each_sentence_on_a_dash_line():
    edited = editor_from_spec({"type": "list_style", "value": "bullets"}).edit(REPLY)
    lines = edited.split("\n")
    assert all(line.startswith("- ") for line in lines) and len(lines) == 8
    assert lines[3] == "- **Declutter**: Remove what you don't need."


def test_no_lists_turn_items_into_prose():
    edited = editor_from_spec({"type": "list_style", "value": "none"}).edit("Ideas:\n- plants\n- lamps")
    assert edited == "Ideas: plants. lamps."


def test_forbidden_word_goes_everywhere_and_a_sentence_start_stays_capitalised():
    edited = editor_from_spec({"type": "forbidden", "value": ["very"], "ignore_case": True}).edit(REPLY)
    assert "very" not in edited.lower()
    assert "is doable." in edited and "feels calm." in edited
    assert edited.endswith("Small changes add up to a big difference.")
    assert editor_from_spec({"type": "forbidden", "value": ["very"]}).edit("Every day.") == "Every day."


def test_forbidden_marks_end_sentences_with_a_period():
    edited = editor_from_spec({"type": "forbidden", "value": ["!"]}).edit(REPLY)
    assert "!" not in edited and edited.startswith("Great question. Making")


def test_closing_and_opening():
    closed = editor_from_spec({"type": "closing", "value": "Best regards."}).edit("Hello there.")
    assert closed == "Hello there.\nBest regards."
    opened = editor_from_spec({"type": "opening", "value": "Answer:"}).edit("  Hello there.")
    assert opened == "Answer: Hello there."


def test_word_limit_cuts_and_ends_the_text():
    edited = editor_from_spec({"type": "max_words", "value": 5}).edit("One two three four five six seven.")
    assert edited == "One two three four five."


def test_editors_are_built_for_preferences_not_listed_here():
    assert editor_from_spec({"type": "closing", "value": "Cheers, Sam"}).edit("Hi.") == "Hi.\nCheers, Sam"
    edited = editor_from_spec({"type": "forbidden", "value": ["basically", "—"]}).edit("It is basically — fine.")
    assert edited == "It is fine."
    assert editor_from_spec({"type": "casing", "value": "upper"}).edit("Hi there.") == "HI THERE."
    assert editor_from_spec({"type": "max_sentences", "value": 1}).edit("One. Two.") == "One."


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"type": "shout"}, "type"),
        ({"type": "max_sentences", "value": 0}, "value"),
        ({"type": "max_words", "value": True}, "value"),
        ({"type": "closing", "value": " "}, "value"),
        ({"type": "forbidden", "value": "very"}, "value"),
        ({"type": "list_style", "value": "numbered"}, "value"),
        ({"type": "casing", "value": "title"}, "value"),
    ],
)
def test_bad_specs_name_the_field(spec, field):
    with pytest.raises(SpecError, match=f"^{field}:"):
        editor_from_spec(spec)


def test_word_edit_distance_counts_words():
    assert word_edit_distance("a b c", "a b c") == 0
    assert word_edit_distance("a b c", "a x c") == 1
    assert word_edit_distance("a b c", "a b c\nBest regards.") == 2
    assert word_edit_distance("Hello  world", "Hello world") == 0


def test_gain():
    assert gain(10.0, 10.0, 2.0) == 0.0
    assert gain(10.0, 2.0, 2.0) == 1.0
    assert gain(10.0, 4.0, 2.0) == 0.75
    assert gain(3.0, 1.0, 3.0) is None


def test_a_word_is_a_whitespace_chunk_with_a_letter_or_digit():
    editor = editor_from_spec({"type": "max_words", "value": 3})
    assert editor.edit("A step-by-step guide, with care.") == "A step-by-step guide."
    assert editor.edit("One - two three") == "One - two three"
