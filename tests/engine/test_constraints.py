"""Rules as decoding constraints on the real SmolLM2 tokenizer, and greedy decoding with the real model."""

import random

import pytest
import torch

from alignment_engine.config import InvalidParameterError
from alignment_engine.constraints import RuleConstraints, Vocabulary
from alignment_engine.rules import parse_rules, rule_satisfied

pytestmark = pytest.mark.slow

# Hand-checked ids of the SmolLM2 tokenizer (asserted in test_hand_checked_ids).
IDS = {
    " very": 1035,
    " every": 897,
    "!": 17,
    " Very": 15753,
    "very": 583,
    " ve": 1590,
    "ry": 541,
    " ver": 2303,
    " not": 441,
    " nothing": 3878,
    " The": 378,
    " the": 260,
    "-": 29,
    " -": 731,
    "\n": 198,
    "1": 33,
    ".": 30,
    " ": 216,
    "Dear": 35097,
}
IM_END = 2


@pytest.fixture(scope="module")
def tokenizer(engine):
    return engine.tokenizer


@pytest.fixture(scope="module")
def vocabulary(engine):
    return Vocabulary.from_tokenizer(engine.tokenizer, size=engine.vocab_size)


def constraints(vocabulary, rules, **options):
    return RuleConstraints.for_request(rules, vocabulary, [IM_END], **options)


def run(state, tokens):
    for token in tokens:
        assert state.forced_token() is None
        mask = state.allowed_mask()
        assert mask is None or bool(mask[token]), f"token {token} refused"
        state.advance(token)
    return state


def allowed(state, text):
    return bool(state.allowed_mask()[IDS[text]])


def test_hand_checked_ids(tokenizer):
    for text, token in IDS.items():
        assert tokenizer(text, add_special_tokens=False)["input_ids"] == [token], text


def test_vocabulary_bytes_decode_like_the_tokenizer(tokenizer, vocabulary):
    assert Vocabulary.from_tokenizer(tokenizer, size=vocabulary.size) is vocabulary
    randomiser = random.Random(0)
    for _ in range(20):
        ids = [randomiser.randrange(17, vocabulary.size) for _ in range(30)]
        joined = b"".join(vocabulary.token_bytes[token] for token in ids).decode("utf-8", errors="replace")
        assert joined == tokenizer.decode(ids, skip_special_tokens=True)
    assert IM_END in vocabulary.special_ids and not vocabulary.text_tokens[IM_END]


def test_forbidden_word_mask_across_token_boundaries(vocabulary):
    state = constraints(vocabulary, [{"type": "forbidden", "value": ["very", "!"]}])
    assert not allowed(state, " very") and not allowed(state, " Very") and not allowed(state, "!")
    assert allowed(state, " every") and allowed(state, " ver")
    assert not allowed(state, "very")  # at the start of the text "very" is a whole word
    run(state, [IDS[" ve"]])
    assert not allowed(state, "ry")  # " ve" + "ry" = " very"
    run(state, [IDS["1"]])  # " ve1": the match begun is gone
    assert allowed(state, "ry")
    state = constraints(vocabulary, [{"type": "forbidden", "value": ["very"]}])
    run(state, [IDS["Dear"]])
    assert allowed(state, "very")  # "Dearvery": inside a word, not the word "very"


def test_a_token_ending_on_a_forbidden_word_is_refused_but_longer_words_pass(vocabulary):
    state = constraints(vocabulary, [{"type": "forbidden", "value": ["not"]}])
    assert not allowed(state, " not") and allowed(state, " nothing")


def test_case_sensitive_forbidden(vocabulary):
    state = constraints(vocabulary, [{"type": "forbidden", "value": ["Very"], "ignore_case": False}])
    assert not allowed(state, " Very") and allowed(state, " very")


def test_casing_lower_mask_and_redirect(vocabulary):
    state = constraints(vocabulary, [{"type": "casing", "value": "lower"}])
    assert not allowed(state, " The") and allowed(state, " the")
    logits = torch.zeros(vocabulary.size)
    logits[IDS[" The"]] = 5.0
    moved = state.redirect(logits)
    assert moved[IDS[" the"]] == 5.0 and moved[IDS[" The"]] == 5.0
    assert torch.equal(constraints(vocabulary, [{"type": "no_emoji"}]).redirect(logits), logits)


def test_casing_upper(vocabulary):
    state = constraints(vocabulary, [{"type": "casing", "value": "upper"}])
    assert not allowed(state, " the") and not allowed(state, " The") and allowed(state, "!")


def test_no_emoji_refuses_emoji_and_unfinished_characters(tokenizer, vocabulary):
    state = constraints(vocabulary, [{"type": "no_emoji"}])
    mask = state.allowed_mask()
    first_byte = tokenizer(" 😀", add_special_tokens=False)["input_ids"][0]  # ends inside the emoji
    assert not mask[first_byte]
    emoji_tokens = [token for token, text in enumerate(vocabulary.texts()) if rule_satisfied_no_emoji(text) is False]
    assert not mask[emoji_tokens].any()
    assert mask[IDS[" the"]] and mask[IDS["!"]]


def rule_satisfied_no_emoji(text):
    return rule_satisfied(parse_rules([{"type": "no_emoji"}])[0], text)


def test_bullets(vocabulary):
    state = constraints(vocabulary, [{"type": "list_style", "value": "bullets"}])
    assert allowed(state, "-") and allowed(state, "\n") and not allowed(state, " The") and not allowed(state, " -")
    run(state, [IDS["-"]])
    assert allowed(state, " The") and not allowed(state, "Dear") and not state.allowed_mask()[IM_END]
    run(state, [IDS[" The"], IDS["\n"]])
    assert not allowed(state, " the") and allowed(state, "-") and state.allowed_mask()[IM_END]


def test_bullets_last_token_leaves_no_bare_dash(vocabulary):
    state = constraints(vocabulary, [{"type": "list_style", "value": "bullets"}], max_new_tokens=2)
    run(state, [IDS["\n"]])
    assert not allowed(state, "-") and allowed(state, "\n")


def test_list_style_none(vocabulary):
    state = constraints(vocabulary, [{"type": "list_style", "value": "none"}])
    run(state, [IDS["Dear"], IDS["\n"]])
    assert not allowed(state, "-")  # a marker at a line start, the next token would decide
    assert allowed(state, "1")
    run(state, [IDS["1"]])
    assert not allowed(state, ".")
    run(state, [IDS[" The"], IDS[" -"]])
    assert allowed(state, " the")  # " - " inside a line is no list


def test_opening_is_forced_then_the_model_chooses(tokenizer, vocabulary):
    state = constraints(vocabulary, [{"type": "opening", "value": "Dear user,"}])
    forced = []
    while state.forced_token() is not None:
        assert state.allowed_mask() is None
        forced.append(state.forced_token())
        state.advance(forced[-1])
    assert forced == tokenizer("Dear user,", add_special_tokens=False)["input_ids"]
    with pytest.raises(ValueError):
        constraints(vocabulary, [{"type": "opening", "value": "Dear"}]).advance(IDS[" the"])


def test_closing_replaces_an_early_end_and_is_followed_by_the_end(tokenizer, vocabulary):
    state = constraints(vocabulary, [{"type": "closing", "value": "Best regards."}])
    run(state, [IDS["Dear"]])
    assert state.resolve(IDS[" the"]) == IDS[" the"]
    first = state.resolve(IM_END)
    assert first != IM_END and state.forced_token() == first
    emitted = [IDS["Dear"]]
    token = first
    while True:
        state.advance(token)
        emitted.append(token)
        if token == IM_END:
            break
        token = state.forced_token()
    assert tokenizer.decode(emitted, skip_special_tokens=True) == "Dear\nBest regards."
    assert state.done and state.forced_token() is None


def test_closing_is_kept_within_max_new_tokens(tokenizer, vocabulary):
    state = constraints(vocabulary, [{"type": "closing", "value": "Best regards."}], max_new_tokens=8)
    emitted = []
    for _ in range(8):
        token = state.forced_token()
        if token is None:
            token = IDS[" the"]
        state.advance(token)
        emitted.append(token)
        if token == IM_END:
            break
    assert emitted[-1] == IM_END
    assert tokenizer.decode(emitted, skip_special_tokens=True).endswith("\nBest regards.")
    with pytest.raises(InvalidParameterError) as caught:
        constraints(vocabulary, [{"type": "closing", "value": "Best regards."}], max_new_tokens=3)
    assert caught.value.field == "max_new_tokens"


def test_word_budget_ends_at_a_sentence_end(tokenizer, vocabulary):
    state = constraints(vocabulary, [{"type": "max_words", "value": 3}])
    run(state, [IDS[" The"], IDS[" the"]])
    assert allowed(state, " the") and allowed(state, " very")
    run(state, [IDS[" the"]])  # three words: only a token that ends the sentence may follow
    assert not allowed(state, " the") and not allowed(state, "\n") and allowed(state, ".") and allowed(state, "!")
    run(state, [IDS["."]])
    assert state.forced_token() == IM_END


def test_sentence_budget(vocabulary):
    state = constraints(vocabulary, [{"type": "max_sentences", "value": 2}])
    run(state, [IDS[" The"], IDS["."], IDS[" The"]])
    assert allowed(state, " the") and allowed(state, ".")
    run(state, [IDS["1"], IDS["."]])  # "The1." : "1." ends the second sentence
    assert state.forced_token() == IM_END


def test_masks_intersect(vocabulary):
    rules = [{"type": "forbidden", "value": ["very"]}, {"type": "casing", "value": "lower"}, {"type": "no_emoji"}]
    combined = constraints(vocabulary, rules).allowed_mask()
    alone = [constraints(vocabulary, [rule]).allowed_mask() for rule in rules]
    assert torch.equal(combined, alone[0] & alone[1] & alone[2])


@pytest.mark.parametrize(
    "rules",
    [
        [{"type": "forbidden", "value": ["dear"]}, {"type": "opening", "value": "Dear user,"}],
        [{"type": "opening", "value": "Dear user,"}, {"type": "casing", "value": "lower"}],
        [{"type": "opening", "value": "Hello there friend"}, {"type": "max_words", "value": 2}],
        [{"type": "type"}],
    ],
)
def test_impossible_or_malformed_rules_are_refused_before_decoding(vocabulary, rules):
    with pytest.raises(InvalidParameterError):
        constraints(vocabulary, rules)


# Greedy decoding with the real model and the constraints (no engine loop) -------------------------------------

PROMPTS = ["Where should I go on holiday in May?", "How do I make a good cup of tea?"]
RULE_SETS = [
    [{"type": "forbidden", "value": ["the", "!"]}],
    [{"type": "forbidden", "value": ["very", "really", "great"]}],
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


@torch.inference_mode()
def greedy(engine, vocabulary, prompt, rules, max_new_tokens=40):
    """Plain greedy decoding of the real model with the constraints (the decode loop's calls, nothing else)."""
    tokenizer, model = engine.tokenizer, engine.model
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    input_ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    eos = [IM_END, *sorted(set(engine.eos_token_ids) - {IM_END})]
    state = RuleConstraints.for_request(rules, vocabulary, eos, max_new_tokens=max_new_tokens)
    cache, emitted = None, []
    for _ in range(max_new_tokens):
        output = model(input_ids=input_ids, past_key_values=cache, use_cache=True)
        cache = output.past_key_values
        logits = output.logits[0, -1].float()
        token = state.forced_token()
        if token is None:
            scores = state.redirect(logits)
            mask = state.allowed_mask()
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            token = state.resolve(int(scores.argmax()))
        state.advance(token)
        emitted.append(token)
        if token in eos:
            break
        input_ids = torch.tensor([[token]])
    return tokenizer.decode(emitted, skip_special_tokens=True)


def distinct_2(text):
    words = text.split()
    pairs = list(zip(words, words[1:], strict=False))
    return len(set(pairs)) / len(pairs) if pairs else 1.0


@pytest.mark.parametrize("rules", RULE_SETS, ids=lambda rules: "+".join(rule["type"] for rule in rules))
def test_real_model_greedy_keeps_every_rule_and_stays_fluent(engine, vocabulary, rules):
    parsed = parse_rules(rules)
    for prompt in PROMPTS:
        text = greedy(engine, vocabulary, prompt, rules)
        assert all(rule_satisfied(rule, text) for rule in parsed), (rules, text)
        words = text.split()
        assert len(words) >= 3, text
        letters = sum(char.isalpha() for char in text)
        assert letters >= 0.5 * len(text.replace(" ", "").replace("\n", "")), text  # words, not symbol runs
        if rules[0].get("value") != "upper":  # 135M in capitals repeats itself: kept, not fluent
            assert distinct_2(text) >= 0.5, text


def test_tables_cached_on_a_vocabulary_are_built_once_and_bounded():
    from alignment_engine.constraints import MAX_CACHED_ROWS, Vocabulary

    vocabulary = Vocabulary([b"a", b"b", b"</s>"], special_ids=[2], encode=lambda text: [])
    builds: list[int] = []

    def build(key: int):
        builds.append(key)
        return frozenset({key})

    assert vocabulary.row(("breakers", 0), lambda: build(0)) == frozenset({0})
    assert vocabulary.row(("breakers", 0), lambda: build(0)) == frozenset({0})
    assert builds == [0]
    for key in range(1, MAX_CACHED_ROWS + 1):  # request-chosen keys cannot grow the cache without bound
        vocabulary.row(("breakers", key), lambda key=key: build(key))
    assert len(vocabulary._rows) == MAX_CACHED_ROWS
    vocabulary.row(("breakers", 0), lambda: build(0))  # the least recently used was let go: built again
    assert builds.count(0) == 2
