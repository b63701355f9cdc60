"""Which principles steer by Linear Alignment: one whose every sentence states a rule it holds is kept by its
rules alone (left out of the prompt and the contrast); any other one, or one with steer=True, steers."""

import pytest

from alignment_engine import GenerationRequest, InvalidParameterError, Principle
from alignment_engine.prompts import stream_conversations
from alignment_engine.rule_recognition import recognise_rules

QUESTION = [{"role": "user", "content": "How do I brew tea?"}]
RULE_TEXT = "Never use emojis."


def test_a_principle_that_only_states_its_rules_is_kept_by_them_alone():
    rule_only = Principle(RULE_TEXT, rules=recognise_rules(RULE_TEXT))
    soft = Principle("Talk like a pirate.")
    request = GenerationRequest(messages=QUESTION, principles=[soft, rule_only])
    assert request.steered_principles() == [soft]
    principled, plain = stream_conversations(request)
    assert principled[0] == {"role": "system", "content": "Talk like a pirate."}
    assert plain[0] == {"role": "system", "content": ""}
    assert request.enforced_rules() == rule_only.rules  # still enforced


def test_alone_it_leaves_plain_generation_with_its_rules():
    rule_only = Principle(RULE_TEXT, rules=recognise_rules(RULE_TEXT))
    request = GenerationRequest(messages=QUESTION, principles=[rule_only])
    assert stream_conversations(request) == [QUESTION]
    assert request.enforced_rules()


@pytest.mark.parametrize(
    "principle",
    [
        Principle(RULE_TEXT),  # no rules held: the text is all there is
        Principle(RULE_TEXT, rules=recognise_rules(RULE_TEXT), steer=True),  # asked to steer
        Principle("Be warm. Never use emojis.", rules=recognise_rules(RULE_TEXT)),  # says more than its rule
        Principle(RULE_TEXT, rules=[{"type": "casing", "value": "lower"}]),  # its own rule is not held
    ],
)
def test_others_steer(principle):
    assert principle.steered
    request = GenerationRequest(messages=QUESTION, principles=[principle])
    assert principle.text in stream_conversations(request)[0][0]["content"]


def test_steer_false_drops_any_principle_from_the_contrast_and_steer_is_checked():
    assert not Principle("Talk like a pirate.", steer=False).steered
    assert Principle.from_dict({"text": RULE_TEXT, "steer": True}).steer is True
    with pytest.raises(InvalidParameterError):
        Principle("Talk like a pirate.", steer="yes")


def test_a_text_the_recogniser_cannot_read_whole_keeps_steering():
    # every sentence is a rule, but the whole text is past the recogniser's length: nothing vouches for it
    long_text = " ".join(["Never use emojis."] * 40)
    assert len(long_text) > 500 and recognise_rules(long_text) == ()
    assert Principle(long_text, rules=recognise_rules(RULE_TEXT)).steered


def test_the_cli_keeps_a_batch_lines_steer():
    from alignment_engine.cli import _principle

    assert _principle({"text": RULE_TEXT, "steer": True}, recognise=True).steer is True
    assert _principle({"text": RULE_TEXT, "steer": True}, recognise=True).steered
