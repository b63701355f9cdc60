"""The rule recogniser on positive and negative phrasings (the labelled set of bench/rule_phrasings.jsonl)."""

import json
from pathlib import Path

import pytest

from alignment_engine.rule_recognition import recognise_rule, recognise_rules, states_only_rules
from alignment_engine.rules import Casing, Closing, Forbidden, MaxSentences, MaxWords, NoEmoji, Opening, parse_rule
from bench.rules_recognition import score

PHRASINGS = [
    json.loads(line)
    for line in (Path(__file__).resolve().parents[2] / "bench" / "rule_phrasings.jsonl").read_text().splitlines()
    if line.strip()
]


def test_labelled_set_is_large_enough():
    negatives = [item for item in PHRASINGS if item["rule"] is None]
    assert len(PHRASINGS) >= 60 and len(negatives) >= 20


@pytest.mark.parametrize("item", PHRASINGS, ids=lambda item: item["text"][:40])
def test_labelled_phrasing(item):
    expected = parse_rule(item["rule"]) if item["rule"] is not None else None
    assert recognise_rule(item["text"]) == expected


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("Never use the word 'very'", Forbidden(("very",), True)),
        ("Don't use exclamation marks", Forbidden(("!",), True)),
        ("Answer in at most three sentences", MaxSentences(3)),
        ("Write everything in lowercase", Casing("lower")),
        ("Start every reply with 'Ahoy'", Opening("Ahoy")),
        ('Always end with "Best regards."', Closing("Best regards.")),
        ("No emoji", NoEmoji()),
        ("Keep it under 50 words", MaxWords(49)),
        ("  keep   it UNDER 50   words  ", MaxWords(49)),
    ],
)
def test_phrasings_from_the_issue(text, rule):
    assert recognise_rule(text) == rule


@pytest.mark.parametrize(
    "text",
    [
        "be concise",
        "write like a pirate",
        "avoid jargon",
        "I am a chemist",
        "",
        "   ",
        "x" * 600,
        "Start every reply with 'Dear user,' and never use the word 'dear'",
    ],
)
def test_not_rules(text):
    assert recognise_rule(text) is None


def test_two_rules_in_one_principle():
    text = "Write everything in lowercase and never use the word 'very'."
    assert set(recognise_rules(text)) == {Casing("lower"), Forbidden(("very",), True)}
    assert recognise_rule(text) is None  # one principle, one rule: unsure which


def test_quoted_opening_keeps_its_case_and_is_not_read_for_other_rules():
    assert recognise_rules('Begin every answer with "NO EMOJI HERE!"') == (Opening("NO EMOJI HERE!"),)


def test_precision_target_on_the_labelled_set():
    result = score(PHRASINGS)
    assert result["precision"] >= 0.95


@pytest.mark.parametrize(
    "text",
    [
        "Never use emojis.",
        'Start your answer with "Indeed.".',
        "Keep your answer under 30 words. Never use emojis.",
        "Write only in lowercase letters; never use capital letters.",
    ],
)
def test_texts_that_state_only_rules(text):
    assert states_only_rules(text)


@pytest.mark.parametrize(
    "text",
    [
        "Be concise. Never use emojis.",  # a soft sentence beside the rule
        "Talk like a pirate.",
        "Use bullet points when listing steps.",
        "",
    ],
)
def test_texts_that_ask_for_more_than_rules(text):
    assert not states_only_rules(text)
