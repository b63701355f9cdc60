"""The repetition guard inside the engine: settings, the logits processor on hand-computed rows, and the real
model's two-principle demo conversation with greedy decoding at the defaults (it must not loop)."""

import pytest
import torch

from alignment_engine import GenerationConfig, InvalidParameterError
from alignment_engine import config as engine_config
from alignment_engine.processors import guard_breaker_ids, processors_for, repetition_guard
from alignment_engine.repetition import RepetitionGuard
from alignment_engine.types import GenerationRequest, Principle
from bench.scoring import repeated_ngram_share

DEMO_PRINCIPLES = ["Answer in one short sentence, like a pirate.", "Reply in French."]
DEMO_QUESTION = "How do I brew green tea?"


def request(**config):
    return GenerationRequest(messages=[{"role": "user", "content": "hi"}], config=GenerationConfig(**config))


def test_the_guard_is_on_by_default_at_the_tuned_settings():
    config = GenerationConfig()
    assert config.guard_on
    assert (config.dry_multiplier, config.dry_base, config.dry_allowed_length, config.dry_penalty_last_n) == (
        engine_config.DEFAULT_DRY_MULTIPLIER,
        1.75,
        2,
        -1,
    )
    assert config.dry_sequence_breakers == ()
    assert (config.presence_penalty, config.frequency_penalty) == (0.0, 0.0)
    assert isinstance(processors_for(request())[0], RepetitionGuard)


def test_the_guard_switches_off():
    assert not GenerationConfig(dry_multiplier=0).guard_on
    assert not GenerationConfig(dry_penalty_last_n=0).guard_on
    assert repetition_guard(request(dry_multiplier=0)) is None
    assert processors_for(request(dry_multiplier=0)) == []
    assert GenerationConfig(dry_multiplier=0, presence_penalty=0.5).guard_on


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("presence_penalty", 2.5),
        ("presence_penalty", -2.01),
        ("presence_penalty", "1"),
        ("frequency_penalty", float("nan")),
        ("frequency_penalty", 3),
        ("dry_multiplier", -0.1),
        ("dry_multiplier", engine_config.MAX_DRY_MULTIPLIER + 1),
        ("dry_base", 0.5),
        ("dry_base", True),
        ("dry_allowed_length", 0),
        ("dry_allowed_length", 2.5),
        ("dry_penalty_last_n", -2),
        ("dry_sequence_breakers", [""]),
        ("dry_sequence_breakers", [1]),
        ("dry_sequence_breakers", ["x"] * (engine_config.MAX_DRY_SEQUENCE_BREAKERS + 1)),
    ],
)
def test_bad_guard_settings_name_their_field(field, value):
    with pytest.raises(InvalidParameterError) as raised:
        GenerationConfig.from_dict({field: value})
    assert raised.value.field == field


def test_guard_settings_round_trip():
    config = GenerationConfig(
        presence_penalty=-2.0,
        frequency_penalty=2.0,
        dry_multiplier=1.5,
        dry_base=2.0,
        dry_allowed_length=3,
        dry_penalty_last_n=64,
        dry_sequence_breakers=["\n", ":"],
    )
    assert config.dry_sequence_breakers == ("\n", ":")
    data = config.to_dict()
    assert data["dry_sequence_breakers"] == ["\n", ":"]
    assert GenerationConfig.from_dict(data) == config
    assert GenerationConfig(dry_sequence_breakers="\n").dry_sequence_breakers == ("\n",)


def test_guard_processor_subtracts_hand_computed_penalties_from_both_rows():
    # generated 5 6 7 5 6: the suffix "5 6" occurred before, followed by 7 -> DRY L(7) = 2 (allowed 2):
    # 0.8 * 1.75 ** 0 = 0.8; suffix "6" alone is shorter than allowed. OpenAI: counts 5:2, 6:2, 7:1 ->
    # 5, 6: 2 * 0.25 + 0.5 = 1.0; 7: 0.25 + 0.5 = 0.75 (+ 0.8 from DRY = 1.55).
    guard = repetition_guard(request(presence_penalty=0.5, frequency_penalty=0.25, dry_multiplier=0.8))
    combined = torch.zeros(9)
    principle = torch.arange(9, dtype=torch.float32)
    new_combined, new_principle = guard([5, 6, 7, 5, 6], combined.clone(), principle.clone())
    expected = torch.tensor([0, 0, 0, 0, 0, 1.0, 1.0, 1.55, 0])
    assert torch.allclose(combined - new_combined, expected)
    assert torch.allclose(principle - new_principle, expected)


def test_guard_processor_grows_the_penalty_with_the_repeat_length():
    # window 1 2 3 4 1 2 3: the suffix "1 2 3" (length 3) repeats and is continued by 4: 1.0 * 2 ** (3 - 2) = 2
    guard = RepetitionGuard(dry_multiplier=1.0, dry_base=2.0, dry_allowed_length=2)
    combined, _ = guard([1, 2, 3, 4, 1, 2, 3], torch.zeros(6), torch.zeros(6))
    assert combined.tolist() == [0, 0, 0, 0, -2.0, 0]
    # a breaker (token 2 here) stops the match: only "3" is left after it, shorter than allowed
    broken = RepetitionGuard(dry_multiplier=1.0, dry_base=2.0, dry_allowed_length=2, breaker_ids={2})
    assert broken([1, 2, 3, 4, 1, 2, 3], torch.zeros(6), torch.zeros(6))[0].tolist() == [0.0] * 6


class PieceTokenizer:
    """A llama.cpp-style tokenizer: token_bytes / is_control over fixed pieces."""

    pieces = [b"a", b"\n", b"b:", b"<end>", b"c"]
    vocab_size = len(pieces)

    def token_bytes(self, token):
        return self.pieces[token]

    def is_control(self, token):
        return token == 3

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": []}


def test_breaker_ids_come_from_the_tokenizers_vocabulary():
    tokenizer = PieceTokenizer()
    assert guard_breaker_ids(tokenizer, ("\n", ":")) == frozenset({1, 2})
    assert guard_breaker_ids(tokenizer, ()) == frozenset()
    guard = processors_for(request(dry_sequence_breakers=["\n"]), tokenizer=tokenizer)[0]
    assert guard.breaker_ids == frozenset({1})
    with pytest.raises(ValueError, match="tokenizer"):
        processors_for(request(dry_sequence_breakers=["\n"]))


def demo_request(**config):
    return GenerationRequest(
        messages=[{"role": "user", "content": DEMO_QUESTION}],
        principles=[Principle(text) for text in DEMO_PRINCIPLES],
        config=GenerationConfig(**{"max_new_tokens": 256, **config}),
    )


@pytest.mark.slow
def test_the_two_principle_demo_does_not_loop_with_the_real_model(engine):
    result = engine.generate(demo_request())
    share = repeated_ngram_share(result.text)
    print(f"torch demo: {result.tokens} tokens, {result.finish_reason}, repeated 4-grams {share:.2f}: {result.text!r}")
    assert share <= 0.3


def test_cli_flags_set_the_guard():
    from alignment_engine.cli import build_parser, config_values

    args = build_parser().parse_args(
        [
            "generate",
            "hi",
            "--presence-penalty",
            "0.5",
            "--frequency-penalty",
            "-1",
            "--dry-multiplier",
            "1.2",
            "--dry-base",
            "2",
            "--dry-allowed-length",
            "3",
            "--dry-penalty-last-n",
            "64",
            "--dry-sequence-breaker",
            "\n",
            "--dry-sequence-breaker",
            ":",
        ]
    )
    config = GenerationConfig.from_dict(config_values(args))
    assert (config.presence_penalty, config.frequency_penalty, config.dry_multiplier, config.dry_base) == (
        0.5,
        -1.0,
        1.2,
        2.0,
    )
    assert (config.dry_allowed_length, config.dry_penalty_last_n, config.dry_sequence_breakers) == (3, 64, ("\n", ":"))
    defaults = GenerationConfig.from_dict(config_values(build_parser().parse_args(["generate", "hi"])))
    assert defaults == GenerationConfig()
