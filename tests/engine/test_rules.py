"""The rule vocabulary: JSON form, errors naming the field, the checker and the compatibility check."""

import random

import pytest

from alignment_engine.config import InvalidParameterError
from alignment_engine.rules import (
    Casing,
    Closing,
    Forbidden,
    ListStyle,
    MaxSentences,
    MaxWords,
    NoEmoji,
    Opening,
    check_compatible,
    count_sentences,
    count_words,
    parse_rule,
    parse_rules,
    rule_satisfied,
)

EXAMPLES = [
    ({"type": "forbidden", "value": ["very", "!"], "ignore_case": True}, Forbidden(("very", "!"), True)),
    ({"type": "forbidden", "value": ["Very"], "ignore_case": False}, Forbidden(("Very",), False)),
    ({"type": "casing", "value": "lower"}, Casing("lower")),
    ({"type": "casing", "value": "upper"}, Casing("upper")),
    ({"type": "opening", "value": "Dear user,"}, Opening("Dear user,")),
    ({"type": "closing", "value": "Best regards."}, Closing("Best regards.")),
    ({"type": "max_words", "value": 50}, MaxWords(50)),
    ({"type": "max_sentences", "value": 3}, MaxSentences(3)),
    ({"type": "list_style", "value": "bullets"}, ListStyle("bullets")),
    ({"type": "list_style", "value": "none"}, ListStyle("none")),
    ({"type": "no_emoji"}, NoEmoji()),
]


@pytest.mark.parametrize(("data", "rule"), EXAMPLES)
def test_json_form_round_trips(data, rule):
    assert parse_rule(data) == rule
    assert rule.to_dict() == data
    assert parse_rule(rule.to_dict()) == rule


def test_forbidden_defaults_to_ignoring_case_and_accepts_one_string():
    assert parse_rule({"type": "forbidden", "value": "very"}) == Forbidden(("very",), True)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ("forbidden", "rules[0]"),
        ({"value": "x"}, "rules[0].type"),
        ({"type": "shout"}, "rules[0].type"),
        ({"type": "forbidden"}, "rules[0].value"),
        ({"type": "forbidden", "value": []}, "rules[0].value"),
        ({"type": "forbidden", "value": ["ok", ""]}, "rules[0].value[1]"),
        ({"type": "forbidden", "value": [3]}, "rules[0].value[0]"),
        ({"type": "forbidden", "value": ["x"], "ignore_case": "yes"}, "rules[0].ignore_case"),
        ({"type": "casing", "value": "title"}, "rules[0].value"),
        ({"type": "opening", "value": "   "}, "rules[0].value"),
        ({"type": "closing", "value": "x" * 201}, "rules[0].value"),
        ({"type": "max_words", "value": 0}, "rules[0].value"),
        ({"type": "max_words", "value": 2.5}, "rules[0].value"),
        ({"type": "max_sentences", "value": True}, "rules[0].value"),
        ({"type": "list_style", "value": "numbers"}, "rules[0].value"),
        ({"type": "no_emoji", "value": True}, "rules[0].value"),
        ({"type": "casing", "value": "lower", "strict": True}, "rules[0].strict"),
    ],
)
def test_malformed_rule_names_the_field(data, field):
    with pytest.raises(InvalidParameterError) as caught:
        parse_rules([data])
    assert caught.value.field == field


def test_rules_must_be_a_list():
    with pytest.raises(InvalidParameterError) as caught:
        parse_rules({"type": "no_emoji"})
    assert caught.value.field == "rules"


@pytest.mark.parametrize(
    ("rule", "text", "kept"),
    [
        (Forbidden(("very",)), "This is Very good.", False),
        (Forbidden(("very",)), "Every day, everyone is busy.", True),
        (Forbidden(("very",)), "very", False),
        (Forbidden(("very",)), "veryfine", True),
        (Forbidden(("Very",), ignore_case=False), "very good", True),
        (Forbidden(("!",)), "Hello!", False),
        (Forbidden(("!",)), "Hello.", True),
        (Forbidden(("at the end",)), "At the end of the day", False),
        (Casing("lower"), "all lower, même ça.", True),
        (Casing("lower"), "Not lower", False),
        (Casing("lower"), "ǅ titlecase", False),
        (Casing("upper"), "ALL CAPS 123!", True),
        (Casing("upper"), "ALMOST ALl", False),
        (Opening("Dear user,"), "Dear user, hello", True),
        (Opening("Dear user,"), "Hello, Dear user,", False),
        (Closing("Best regards."), "Hi.\nBest regards.\n", True),
        (Closing("Best regards."), "Best regards. Bye", False),
        (MaxWords(3), "One, two - three!", True),
        (MaxWords(3), "One two three four", False),
        (MaxSentences(2), "It costs 3.5 dollars. See e.g. the list!", False),
        (MaxSentences(2), "It costs 3.5 dollars. That is all.", True),
        (ListStyle("bullets"), "- one\n- two\n\n- three", True),
        (ListStyle("bullets"), "Intro:\n- one", False),
        (ListStyle("bullets"), "-one", False),
        (ListStyle("none"), "Plain text.\nMore - text and 3.5 or 2) here.", True),
        (ListStyle("none"), "Intro\n  * item", False),
        (ListStyle("none"), "Steps:\n1. do it", False),
        (NoEmoji(), "Plain text, with — and ’ and ©? no: © is pictographic", False),
        (NoEmoji(), "Plain text, with — and ’ and 1 # *", True),
        (NoEmoji(), "Nice 😀", False),
        (NoEmoji(), "Heart ❤", False),
    ],
)
def test_rule_satisfied(rule, text, kept):
    assert rule_satisfied(rule, text) is kept


def test_counts():
    assert count_words("") == 0
    assert count_words("  -- , !  ") == 0
    assert count_words("co-op's well-known (3) items") == 4
    assert count_sentences("Hi. How are you? I'm fine!") == 3
    assert count_sentences('He said "stop." Then left.') == 2
    assert count_sentences("No end") == 1
    assert count_sentences("... Hello") == 1


def test_sentence_count_equals_a_split_on_sentence_ends():
    """The automaton agrees with the plain definition: split after end marks (+ closers) and whitespace."""
    import re

    randomiser = random.Random(0)
    alphabet = ["a", "B", "7", ".", "!", "?", "…", '"', ")", " ", "\n", ",", "-"]
    for _ in range(2000):
        text = "".join(randomiser.choice(alphabet) for _ in range(randomiser.randint(0, 25)))
        parts = re.split(r"(?<=[.!?…])[\"')\]}”’»]*\s+|(?<=[.!?…][\"')\]}”’»])\s+", text)
        expected = 0
        # a part counts when it has content; an end mark only ends a sentence that has content
        joined_parts = []
        for part in parts:
            if joined_parts and not any(char.isalnum() for char in joined_parts[-1]):
                joined_parts[-1] += " " + part
            else:
                joined_parts.append(part)
        expected = sum(1 for part in joined_parts if any(char.isalnum() for char in part))
        assert count_sentences(text) == expected, text


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ([Forbidden(("dear",)), Opening("Dear user,")], "rules[1]"),
        ([Opening("Dear user,"), Casing("lower")], "rules[0]"),
        ([Closing("BEST!"), Casing("upper"), Forbidden(("!",))], "rules[0]"),
        ([Opening("Hello there friend"), MaxWords(2)], "rules[1]"),
        ([Opening("Hi."), Closing("Bye."), MaxSentences(1)], "rules[2]"),
        ([Opening("Dear user,"), ListStyle("bullets")], "rules[0]"),
        ([Opening("- item"), ListStyle("none")], "rules[0]"),
        ([Opening("Hi 😀")], None),
        ([Opening("Hi 😀"), NoEmoji()], "rules[0]"),
        ([Casing("lower"), Casing("upper")], "rules[1]"),
        ([MaxWords(3), MaxWords(5)], "rules[1]"),
    ],
)
def test_impossible_combinations_are_refused(rules, field):
    if field is None:
        check_compatible(rules)
        return
    with pytest.raises(InvalidParameterError) as caught:
        check_compatible(rules)
    assert caught.value.field == field


def test_compatible_combination_passes():
    rules = parse_rules(
        [
            {"type": "opening", "value": "dear user,"},
            {"type": "closing", "value": "best regards."},
            {"type": "casing", "value": "lower"},
            {"type": "forbidden", "value": ["very", "!"]},
            {"type": "forbidden", "value": ["really"]},
            {"type": "max_sentences", "value": 3},
            {"type": "no_emoji"},
        ]
    )
    assert len(rules) == 7
