"""Rules on the llama.cpp backend: the same vocabulary as torch, every rule kept, the same greedy replies."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("llama_cpp")

from alignment_engine import GenerationConfig, GenerationRequest, Principle  # noqa: E402
from alignment_engine.processors import rule_vocabulary  # noqa: E402
from alignment_engine.rules import parse_rules, rule_satisfied  # noqa: E402

pytestmark = [pytest.mark.llamacpp, pytest.mark.slow]

PROMPTS = ["Where should I go on holiday in May?", "How do I make a good cup of tea?"]
RULE_SETS = [
    [{"type": "forbidden", "value": ["the", "!"]}],
    [{"type": "casing", "value": "lower"}],
    [{"type": "opening", "value": "Ahoy!"}, {"type": "closing", "value": "Best regards."}],
    [{"type": "max_words", "value": 25}],
    [{"type": "max_sentences", "value": 2}],
    [{"type": "list_style", "value": "bullets"}],
    [{"type": "list_style", "value": "none"}, {"type": "no_emoji"}],
]
IDS = lambda rules: "+".join(rule["type"] for rule in rules)  # noqa: E731


def request(prompt, rules, alpha):
    return GenerationRequest(
        messages=[{"role": "user", "content": prompt}],
        principles=[Principle("Answer warmly and keep to the house style.", rules=rules)],
        config=GenerationConfig(alpha=alpha, max_new_tokens=32),
    )


def test_both_backends_see_the_same_token_bytes(llama_engine, torch_engine):
    llama = rule_vocabulary(llama_engine.tokenizer, llama_engine.vocab_size)
    torch_vocabulary = rule_vocabulary(torch_engine.tokenizer, torch_engine.vocab_size)
    assert llama.size == torch_vocabulary.size
    text = [token for token in range(llama.size) if token not in llama.special_ids]
    assert len(text) > 49000
    assert all(llama.token_bytes[token] == torch_vocabulary.token_bytes[token] for token in text)
    assert llama.special_ids <= torch_vocabulary.special_ids | set(range(llama.size))


@pytest.mark.parametrize("rules", RULE_SETS, ids=IDS)
def test_llamacpp_greedy_keeps_every_rule(llama_engine, rules):
    parsed = parse_rules(rules)
    for result in llama_engine.generate_batch([request(prompt, rules, 3.0) for prompt in PROMPTS]):
        assert all(rule_satisfied(rule, result.text) for rule in parsed), (rules, result.text)
        assert len(result.text.split()) >= 3, result.text


def test_same_rules_same_greedy_reply_on_both_backends(llama_engine, torch_engine):
    """Prompting (alpha 0), where the backends agree at >= 95% of steps (test_agreement): the rules must not
    make them part, since the same masks apply to the same bytes. A whole reply still flips at its first near-tie
    (at 95% per step, few 40-token replies match end to end), so the rules are compared with the same prompts
    without rules: they must keep the backends' replies at least as close, as the length of the common prefix."""

    def common_prefix(rules) -> list[int]:
        lengths = []
        for prompt in PROMPTS:
            llama = llama_engine.generate(request(prompt, rules, 0.0)).text
            torch_text = torch_engine.generate(request(prompt, rules, 0.0)).text
            lengths.append(len(os.path.commonprefix([llama, torch_text])))
        return lengths

    plain = sum(common_prefix([]))
    for rules in RULE_SETS:
        shared = sum(common_prefix(rules))
        assert shared >= 0.5 * plain or shared >= 40 * len(PROMPTS), (rules, shared, plain)
