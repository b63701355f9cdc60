"""Teacher forcing: on the same token sequences, the two backends pick the same greedy next token.

llama.cpp multiplies the Q4_1 weights with activations quantised to 8 bits; the torch backend runs the
dequantised weights in fp32. The logits of one stream differ by about 0.2 on average, so bit equality is
impossible. Linear Alignment combines two streams with coefficients (1 + alpha) and -alpha, which multiplies
that independent noise by sqrt((1 + alpha)^2 + alpha^2) (3.6 at alpha = 2): near-ties flip more often.
What must hold: plain prompting agrees at >= 95% of steps, alpha = 2 at >= 90%, and every disagreement is a
near-tie of one of the rule's two decisions: either llama.cpp's token is within NEAR_TIE logits of torch's choice in
torch's own combined logits, or one of the two tokens sits at the edge of the plausibility nucleus (its principle
mass before it, in torch's own distribution, within NUCLEUS_EDGE of top_p), where the same noise moves it in or out.
"""

from __future__ import annotations

import pytest

pytest.importorskip("llama_cpp")

import torch  # noqa: E402

from alignment_engine import GenerationConfig, GenerationRequest  # noqa: E402
from alignment_engine import linear_alignment as la  # noqa: E402
from alignment_engine.prompts import stream_token_ids  # noqa: E402

pytestmark = [pytest.mark.llamacpp, pytest.mark.slow]

CASES = [
    ("Tell me about the ocean.", "Always reply in French"),
    ("How do I bake bread?", "Answer in three short bullet points"),
    ("What is a good name for a cat?", "Be enthusiastic and use exclamation marks"),
    ("Explain what a CPU does.", "Explain it to a five-year-old"),
]
FORCED_TOKENS = 40
MIN_AGREEMENT = {0.0: 0.95, 2.0: 0.90}
NEAR_TIE = 2.0
NUCLEUS_EDGE = 0.05


@pytest.fixture(scope="module")
def forced_logits(llama_engine, torch_engine):
    """Per case: stream logits of both backends over the same forced continuation ([streams, steps, vocab])."""
    cases = []
    for prompt, principle in CASES:
        request = GenerationRequest.from_prompt(prompt, [principle])
        streams = stream_token_ids(torch_engine.tokenizer, request)
        with torch.inference_mode():
            prompt_ids = torch.tensor([streams[0]])
            output = torch_engine.model.generate(
                prompt_ids,
                attention_mask=torch.ones_like(prompt_ids),
                max_new_tokens=FORCED_TOKENS,
                min_new_tokens=FORCED_TOKENS,
                do_sample=False,
            )
        forced = output[0, len(streams[0]) :].tolist()
        torch_rows, llama_rows = [], []
        for stream in streams:
            tokens = stream + forced
            steps = slice(len(stream) - 1, len(tokens) - 1)
            with torch.inference_mode():
                torch_rows.append(torch_engine.model(input_ids=torch.tensor([tokens])).logits[0, steps].float())
            llama_rows.append(llama_engine.sequence_logits(tokens)[steps])
        cases.append((torch.stack(torch_rows), torch.stack(llama_rows)))
    return cases


def combined_logits(stream_logits: torch.Tensor, alpha: float) -> torch.Tensor:
    coefficients = torch.tensor(la.stream_coefficients(alpha, [1.0]))  # [1.0] alone at alpha 0: plain prompting
    return torch.einsum("s,stv->tv", coefficients, stream_logits[: len(coefficients)])


def greedy_choices(stream_logits: torch.Tensor, alpha: float) -> torch.Tensor:
    """The engine's greedy decision per step (default temperature and top_p mask)."""
    config = GenerationConfig(alpha=alpha)
    steps = stream_logits.shape[1]
    probabilities = la.aligned_probabilities(
        combined_logits(stream_logits, alpha),
        stream_logits[0],
        torch.full((steps,), config.temperature),
        torch.full((steps,), config.top_p),
    )
    return probabilities.argmax(-1)


def distance_to_nucleus_edge(principle_logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Per step: |principle mass before the token - top_p| (default temperature and top_p), the token's distance
    from where it would enter or leave the nucleus."""
    config = GenerationConfig()
    probs = torch.softmax(principle_logits.float() / config.temperature, dim=-1)
    chosen = probs.gather(-1, tokens[:, None])
    mass_before = (probs * (probs > chosen)).sum(-1)
    return (mass_before - config.top_p).abs()


@pytest.mark.parametrize("alpha", sorted(MIN_AGREEMENT))
def test_backends_agree_on_the_greedy_token(forced_logits, alpha):
    agree = total = 0
    unexplained = []
    for torch_logits, llama_logits in forced_logits:
        llama_logits = llama_logits[:, :, : torch_logits.shape[-1]]
        torch_tokens = greedy_choices(torch_logits, alpha)
        llama_tokens = greedy_choices(llama_logits, alpha)
        agree += int((torch_tokens == llama_tokens).sum())
        total += len(torch_tokens)
        reference = combined_logits(torch_logits, alpha)
        steps = torch.arange(len(torch_tokens))
        margins = reference[steps, torch_tokens] - reference[steps, llama_tokens]
        edge = torch.minimum(
            distance_to_nucleus_edge(torch_logits[0], torch_tokens),
            distance_to_nucleus_edge(torch_logits[0], llama_tokens),
        )
        unexplained += [
            (round(float(m), 2), round(float(e), 3))
            for m, e in zip(margins, edge, strict=True)
            if m >= NEAR_TIE and e >= NUCLEUS_EDGE
        ]
    print(f"alpha={alpha}: {agree}/{total} steps agree ({agree / total:.1%})")
    assert agree / total >= MIN_AGREEMENT[alpha]
    assert not unexplained, unexplained  # (margin lost, distance to the nucleus edge) of each
