"""The quality benchmark's scorers and metrics on hand-written replies (no model)."""

import json

import pytest

from bench import scoring
from bench.quality import DEFAULT_PRINCIPLES, build_modes, parse_setting, split_questions
from bench.scoring import Reply


def score(scorer, text, **params):
    return scoring.SCORERS[scorer](Reply(text), **params)


def test_concise_and_verbose_are_graded_by_word_count():
    assert score("concise", "Tea is good.", max_words=25) == 1.0
    assert score("concise", " ".join(["word"] * 50), max_words=25) == 0.5
    assert score("verbose", " ".join(["word"] * 30), min_words=60) == 0.5
    assert score("verbose", " ".join(["word"] * 90), min_words=60) == 1.0


def test_french_is_the_share_of_french_function_words():
    assert score("french", "Le thé vert est bon pour la santé.") == 1.0
    assert score("french", "The tea is good.") == 0.0
    assert score("french", "Le thé and the tea") == pytest.approx(1 / 3)  # le | and, the
    assert score("french", "42") == 0.0


def test_pirate_and_exclamations_count_up_to_their_minimum():
    assert score("pirate", "Ahoy matey, brew ye tea!", min_words=2) == 1.0
    assert score("pirate", "Ahoy, brew tea.", min_words=2) == 0.5
    assert score("exclamations", "Great! Brew it!", minimum=2) == 1.0
    assert score("exclamations", "Great! Brew it.", minimum=2) == 0.5


def test_sentence_based_scorers():
    text = "brew the tea. it tastes good, really. Enjoy it!"
    assert scoring.sentences(text) == ["brew the tea.", "it tastes good, really.", "Enjoy it!"]
    assert score("lowercase", text) == pytest.approx(2 / 3)
    assert score("no_commas", text) == pytest.approx(2 / 3)
    assert score("max_sentences", text, limit=2) == pytest.approx(2 / 3)
    assert score("max_sentences", "One. Two.", limit=2) == 1.0
    assert score("max_sentences", "", limit=2) == 0.0


def test_bullets_start_and_question():
    assert score("bulleted", "Steps:\n- boil water\n- steep 2 minutes", min_items=2) == pytest.approx(2 / 3)
    assert score("bulleted", "- only one item", min_items=2) == 0.0
    assert score("bulleted", "1. boil\n2. steep", min_items=2) == 1.0
    assert score("starts_with", "Indeed, green tea is easy.", word="Indeed") == 1.0
    assert score("starts_with", "Green tea, indeed.", word="Indeed") == 0.0
    assert score("ends_with_question", "Boil water. Do you like tea?") == 1.0
    assert score("ends_with_question", "Like tea? Boil water.") == 0.5
    assert score("ends_with_question", "Boil water.") == 0.0
    assert score("uppercase", "ABC def") == 0.5


def test_repetition_metrics_catch_a_loop():
    loop = "- Green: " * 30
    assert scoring.repeated_ngram_share(loop) > 0.9 and scoring.is_degenerate(loop)
    assert scoring.distinct_n(loop) < 0.1
    fluent = "Boil the water, let it cool to eighty degrees, then steep the leaves for two minutes."
    assert scoring.repeated_ngram_share(fluent) == 0.0 and not scoring.is_degenerate(fluent)
    assert scoring.distinct_n(fluent) == 1.0
    # a b c d a b c d: 5 four-grams, 4 distinct -> 1/5 repeated
    assert scoring.repeated_ngram_share("a b c d a b c d") == pytest.approx(0.2)


def test_ended_counts_eos_and_stop_only():
    assert Reply("x", "eos").ended and Reply("x", "stop").ended and not Reply("x", "length").ended


def test_principle_file_loads_and_rejects_bad_entries(tmp_path):
    principles = scoring.load_principles(DEFAULT_PRINCIPLES)
    assert len(principles.principles) >= 10
    assert {len(c) for c in principles.combinations} >= {2, 3}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"principles": [{"name": "x", "text": "t", "scorer": "nope"}]}))
    with pytest.raises(ValueError, match="unknown scorer"):
        scoring.load_principles(str(bad))
    bad.write_text(
        json.dumps({"principles": [{"name": "x", "text": "t", "scorer": "french"}], "combinations": [["x", "y"]]})
    )
    with pytest.raises(ValueError, match="unknown"):
        scoring.load_principles(str(bad))


def test_split_is_deterministic_and_disjoint():
    questions = [f"q{i}" for i in range(10)]
    tune, report = split_questions(questions, "tune"), split_questions(questions, "report")
    assert tune == ["q0", "q2", "q4", "q6", "q8"] and report == ["q1", "q3", "q5", "q7", "q9"]


def test_settings_and_modes():
    assert parse_setting("top_p=0.9") == ("top_p", 0.9)
    assert parse_setting('stop=["\\n"]') == ("stop", ["\n"])
    assert parse_setting("name=abc") == ("name", "abc")
    labels = [m.label for m in build_modes(["none", "prompt", "la"], [3.0, 1.0])]
    assert labels == ["no principle", "prompting (alpha 0)", "LA alpha 3 (default)", "LA alpha 1"]


def test_guard_spec_parses_and_sums_penalties():
    from bench.guard import GuardSettings, request_penalties

    guard = GuardSettings.parse("g:dry_multiplier=0.8,dry_allowed_length=3,dry_breakers=\\n|:,presence_penalty=0.5")
    assert (guard.name, guard.dry_multiplier, guard.dry_allowed_length) == ("g", 0.8, 3)
    assert guard.dry_breakers == ("\n", ":") and guard.placement == "streams" and guard.active
    assert GuardSettings.parse("x:dry_breakers=none").dry_breakers == ()
    assert not GuardSettings.parse("off").active
    with pytest.raises(ValueError):
        GuardSettings.parse("x:placement=nowhere")
    with pytest.raises(ValueError):
        GuardSettings.parse("x:bogus=1")
    # 1 2 3 1 2: DRY 0.8 on 3 (repeat of length 2 = allowed), presence 0.5 on 1, 2 and 3
    both = GuardSettings(dry_multiplier=0.8, presence_penalty=0.5)
    assert request_penalties(both, [1, 2, 3, 1, 2], frozenset()) == pytest.approx({1: 0.5, 2: 0.5, 3: 1.3})


def test_summary_counts_every_scored_principle_alone_and_in_sets():
    from bench.quality import Mode, Record, summary_table
    from bench.scoring import PrincipleSet, Reply, ScoredPrinciple

    principles = PrincipleSet(
        principles=[
            ScoredPrinciple("lowercase", "Write in lowercase.", "lowercase"),
            ScoredPrinciple("question", "End with a question.", "ends_with_question"),
        ],
        combinations=[("lowercase", "question")],
    )
    mode = Mode("LA alpha 3", 3.0)

    def record(names, text):
        return Record("llamacpp", "guard", mode.key, names, 0, Reply(text, "eos", 5))

    records = [
        record(("lowercase",), "all lower here."),  # lowercase 1
        record(("question",), "No question here."),  # question 0
        record(("lowercase", "question"), "lower and asking?"),  # 1 and 1
    ]
    table = summary_table(records, principles, [mode], wall={})
    row = table.splitlines()[-1].split(" | ")
    header = table.splitlines()[0].split(" | ")
    values = dict(zip(header, row, strict=True))
    assert values["mean adherence (1 principle)"] == "50%"
    assert values["adherence in 2-principle sets"] == "100%"
    assert values["every scored principle (alone and in sets)"] == "75%"  # (1 + 0 + 1 + 1) / 4
