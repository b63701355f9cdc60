"""Rules on the llama.cpp backend: the same vocabulary as torch, every rule kept, the same greedy replies."""

from __future__ import annotations

import pytest

pytest.importorskip("llama_cpp")

import torch  # noqa: E402

from alignment_engine import GenerationConfig, GenerationRequest, Principle  # noqa: E402
from alignment_engine.constraints import Vocabulary  # noqa: E402
from alignment_engine.processors import RuleMask, rule_constraints  # noqa: E402
from alignment_engine.prompts import stream_token_ids  # noqa: E402
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
    llama = Vocabulary.from_tokenizer(llama_engine.tokenizer, size=llama_engine.vocab_size)
    torch_vocabulary = Vocabulary.from_tokenizer(torch_engine.tokenizer, size=torch_engine.vocab_size)
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


def test_same_rules_same_greedy_choice_on_both_backends(llama_engine, torch_engine):
    """Prompting (alpha 0), greedy, decoded step by step with both backends' logits over the same history: each
    backend's own rule constraints (built from its own vocabulary) force the same tokens and mask the same ones,
    and the masked greedy choice agrees at every step where the two backends' best allowed tokens are not a
    near-tie (test_agreement: Q4_1 llama.cpp and float32 torch differ there, rules or not)."""
    agree = total = 0
    for rules in RULE_SETS:
        request = rule_prompt_request(PROMPTS[1], rules)
        tokens = list(stream_token_ids(torch_engine.tokenizer, request)[0])
        states = [
            rule_constraints(request, engine.tokenizer, torch_engine.vocab_size, torch_engine.eos_token_ids)
            for engine in (torch_engine, llama_engine)
        ]
        for _ in range(16):
            with torch.inference_mode():
                torch_row = torch_engine.model(input_ids=torch.tensor([tokens])).logits[0, -1].float()
            llama_row = llama_engine.sequence_logits(tokens)[-1][: torch_row.shape[-1]].float()
            rows = []
            for state, row in zip(states, (torch_row, llama_row), strict=True):
                masked, _ = RuleMask(state)([], row.clone(), row.clone())
                rows.append(masked)
            assert torch.equal(torch.isfinite(rows[0]), torch.isfinite(rows[1])), rules  # the same masks
            top2 = rows[0].topk(2).values
            if not torch.isfinite(top2[1]) or float(top2[0] - top2[1]) >= 2.0:
                total += 1
                agree += int(rows[0].argmax() == rows[1].argmax())
            token, other = (state.resolve(int(rows[0].argmax())) for state in states)
            assert token == other, rules  # an end chosen while a closing is due becomes the same closing
            for state in states:
                state.advance(token)
            if token in torch_engine.eos_token_ids:
                break
            tokens.append(token)
    assert total > 40 and agree == total, (agree, total)


def rule_prompt_request(prompt, rules):
    return request(prompt, rules, 0.0)
