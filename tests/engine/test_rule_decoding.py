"""Rules in the engine's decode loop: the RuleMask processor on hand-checked tokens, admission, greedy replies."""

import pytest
import torch

from alignment_engine import GenerationConfig, GenerationRequest, InvalidParameterError, Principle
from alignment_engine.constraints import RuleConstraints, Vocabulary
from alignment_engine.processors import RuleMask, processors_for
from alignment_engine.rules import Casing, Forbidden, parse_rules, rule_satisfied

pytestmark = pytest.mark.slow

IM_END = 2
IDS = {" very": 1035, " every": 897, " The": 378, " the": 260, "Dear": 35097, " user": 2914, ",": 28}


@pytest.fixture(scope="module")
def vocabulary(engine):
    return Vocabulary.from_tokenizer(engine.tokenizer, size=engine.vocab_size)


def mask_processor(vocabulary, rules, max_new_tokens=None):
    return RuleMask(RuleConstraints(parse_rules(rules), vocabulary, [IM_END], max_new_tokens))


def test_hand_checked_ids(engine):
    for text, token in IDS.items():
        assert engine.tokenizer(text, add_special_tokens=False)["input_ids"] == [token], text


def test_mask_applies_to_z_and_to_the_nucleus(vocabulary):
    processor = mask_processor(vocabulary, [{"type": "forbidden", "value": ["very"]}])
    combined, principle = torch.zeros(vocabulary.size), torch.zeros(vocabulary.size)
    combined[IDS[" very"]] = principle[IDS[" very"]] = 10.0
    new_combined, new_principle = processor([], combined, principle)
    assert new_combined[IDS[" very"]] == float("-inf") and new_principle[IDS[" very"]] == float("-inf")
    assert new_combined[IDS[" every"]] == 0.0 and new_principle[IDS[" every"]] == 0.0
    assert combined[IDS[" very"]] == 10.0  # the inputs are left alone


def test_casing_redirect_then_mask(vocabulary):
    processor = mask_processor(vocabulary, [{"type": "casing", "value": "lower"}])
    combined = torch.full((vocabulary.size,), -5.0)
    combined[IDS[" The"]] = 8.0
    principle = combined.clone()
    new_combined, new_principle = processor([], combined, principle)
    assert int(new_combined.argmax()) == IDS[" the"] and float(new_combined[IDS[" the"]]) == 8.0
    assert new_principle[IDS[" The"]] == float("-inf")


def test_opening_tokens_are_forced_in_both_rows(engine, vocabulary):
    processor = mask_processor(vocabulary, [{"type": "opening", "value": "Dear user,"}])
    expected = engine.tokenizer("Dear user,", add_special_tokens=False)["input_ids"]
    assert expected == [IDS["Dear"], IDS[" user"], IDS[","]]
    for token in expected:
        combined, principle = processor([], torch.randn(vocabulary.size), torch.randn(vocabulary.size))
        for row in (combined, principle):
            assert int(row.argmax()) == token and torch.isinf(row).sum() == vocabulary.size - 1
        processor.constraints.advance(token)
    combined, _ = processor([], torch.randn(vocabulary.size), torch.randn(vocabulary.size))
    assert torch.isfinite(combined).sum() > 1000  # the model chooses again


def test_nothing_allowed_left_by_another_processor_forces_the_best_allowed_token(vocabulary):
    processor = mask_processor(vocabulary, [{"type": "forbidden", "value": ["very"]}])
    combined = torch.full((vocabulary.size,), float("-inf"))
    combined[IDS[" very"]] = 5.0  # an earlier processor left only a refused token
    principle = combined.clone()
    principle[IDS[" every"]] = 1.0  # finite in the nucleus row only
    new_combined, new_principle = processor([], combined, principle)
    chosen = int(new_combined.argmax())
    assert chosen != IDS[" very"] and int(new_principle.argmax()) == chosen
    assert torch.isfinite(new_combined).sum() == 1


def test_processors_for_puts_the_rules_last(vocabulary):
    request = GenerationRequest(
        messages=[{"role": "user", "content": "Hi"}],
        config=GenerationConfig(no_repeat_ngram_size=3),
        rules=[{"type": "no_emoji"}],
    )
    constraints = RuleConstraints(request.enforced_rules(), vocabulary, [IM_END])
    processors = processors_for(request, constraints)
    assert isinstance(processors[-1], RuleMask)
    assert not any(isinstance(processor, RuleMask) for processor in processors_for(request))


# Interface and admission ----------------------------------------------------------------------------------------


def test_principle_rules_parse_json_and_name_the_field():
    principle = Principle("Write in lower case.", rules=[{"type": "casing", "value": "lower"}])
    assert principle.rules == (Casing("lower"),)
    with pytest.raises(InvalidParameterError) as error:
        GenerationRequest(
            messages=[{"role": "user", "content": "Hi"}],
            principles=["Be kind.", {"text": "x", "rules": [{"type": "casing", "value": "title"}]}],
        )
    assert error.value.field == "principles[1].rules[0].value"
    request = GenerationRequest(
        messages=[{"role": "user", "content": "Hi"}],
        principles=[
            Principle("a", rules=[{"type": "forbidden", "value": ["very"]}]),
            Principle("b", rules=[{"type": "forbidden", "value": ["very"]}, {"type": "no_emoji"}]),
        ],
    )
    assert request.enforced_rules()[0] == Forbidden(("very",))
    assert len(request.enforced_rules()) == 2  # the same rule twice is kept once


def test_impossible_rules_are_refused_before_any_prefill(engine, monkeypatch):
    prefills = []
    monkeypatch.setattr(engine.runner, "prefill", lambda *args: prefills.append(args) or None)
    good = GenerationRequest.from_prompt("Hi")
    impossible = GenerationRequest(
        messages=[{"role": "user", "content": "Hi"}],
        principles=[
            Principle("Open warmly.", rules=[{"type": "opening", "value": "Very glad you asked!"}]),
            Principle("Plain words.", rules=[{"type": "forbidden", "value": ["very"]}]),
        ],
    )
    with pytest.raises(InvalidParameterError) as error:
        engine.generate_batch([good, impossible])
    assert error.value.field == "principles[0].rules[0]" and "principles[1].rules[0]" in error.value.message
    with pytest.raises(InvalidParameterError) as error:
        engine.generate(
            GenerationRequest(
                messages=[{"role": "user", "content": "Hi"}],
                config=GenerationConfig(max_new_tokens=3),
                rules=[{"type": "closing", "value": "With my very best regards to you."}],
            )
        )
    assert error.value.field == "max_new_tokens"
    assert prefills == []


# Greedy replies of the real model through the engine (Linear Alignment on) -------------------------------------

PROMPTS = ["Where should I go on holiday in May?", "How do I make a good cup of tea?"]
RULE_SETS = [
    [{"type": "forbidden", "value": ["the", "!"]}],
    [{"type": "casing", "value": "lower"}],
    [{"type": "casing", "value": "upper"}],
    [{"type": "opening", "value": "Ahoy!"}],
    [{"type": "closing", "value": "Best regards."}],
    [{"type": "max_words", "value": 25}],
    [{"type": "max_sentences", "value": 2}],
    [{"type": "list_style", "value": "bullets"}],
    [{"type": "list_style", "value": "none"}],
    [{"type": "no_emoji"}],
    [
        {"type": "opening", "value": "dear user,"},
        {"type": "closing", "value": "best regards."},
        {"type": "max_sentences", "value": 3},
        {"type": "casing", "value": "lower"},
        {"type": "forbidden", "value": ["very"]},
    ],
]


def rule_request(prompt, rules, alpha=3.0, max_new_tokens=40, **config):
    return GenerationRequest(
        messages=[{"role": "user", "content": prompt}],
        principles=[Principle("Answer warmly and keep to the house style.", rules=rules)],
        config=GenerationConfig(alpha=alpha, max_new_tokens=max_new_tokens, **config),
    )


@pytest.mark.parametrize("rules", RULE_SETS, ids=lambda rules: "+".join(rule["type"] for rule in rules))
def test_engine_greedy_keeps_every_rule(engine, rules):
    parsed = parse_rules(rules)
    results = engine.generate_batch([rule_request(prompt, rules) for prompt in PROMPTS])
    for result in results:
        assert all(rule_satisfied(rule, result.text) for rule in parsed), (rules, result.text)
        assert len(result.text.split()) >= 3, result.text


def test_closing_is_forced_in_time_and_the_end_waits_for_it(engine):
    closing = [{"type": "closing", "value": "Best regards."}]
    result = engine.generate(rule_request("Tell me about the history of bread.", closing, max_new_tokens=16))
    assert result.text.rstrip().endswith("Best regards.") and result.tokens <= 16
    assert result.finish_reason == "eos"
    # without the rule (and without the end bonus, which would also end it in time) the reply runs to the limit
    free = engine.generate(rule_request("Tell me about the history of bread.", [], max_new_tokens=16, end_bonus=0))
    assert free.finish_reason == "length"


def test_sampling_keeps_rules_too(engine):
    rules = [{"type": "forbidden", "value": ["tea", ","]}, {"type": "max_sentences", "value": 2}]
    request = GenerationRequest(
        messages=[{"role": "user", "content": "How do I make a good cup of tea?"}],
        principles=[Principle("Be brief.", rules=rules)],
        config=GenerationConfig(do_sample=True, seed=7, temperature=1.0, top_p=0.95, max_new_tokens=40),
    )
    parsed = parse_rules(rules)
    for result in engine.generate_batch([request, request]):
        assert all(rule_satisfied(rule, result.text) for rule in parsed), result.text
