"""Each correction rule on hand-made (reply, correction) pairs, including pairs that must suggest nothing."""

from __future__ import annotations

import pytest

from preferences.learning.corrections import Observation, observe
from preferences.learning.evidence import FeedbackSample, LearningInput, suggest
from preferences.learning.measures import satisfies
from preferences.learning.phrasing import check_from_text, engine_rule, principle_text

REPLY = (
    "Making a home feel welcoming on a budget is very doable! Start by clearing clutter, because a tidy room "
    "feels calm. Add a few plants, which bring color and life. Warm lamps make the evenings cozy. Finally, "
    "rearrange the furniture to open up the space. Small changes add up to a very different feeling."
)


def by_kind(observations: list[Observation], kind: str) -> list[Observation]:
    return [observation for observation in observations if observation.kind == kind]


def only(observations: list[Observation], kind: str) -> Observation:
    found = by_kind(observations, kind)
    assert len(found) == 1, observations
    return found[0]


def test_identical_or_whitespace_only_changes_suggest_nothing():
    assert observe(REPLY, REPLY) == []
    assert observe(REPLY, "  " + REPLY.replace(". ", ".  ") + "\n") == []


def test_one_replaced_word_is_weak_evidence_and_suggests_nothing():
    reply, corrected = REPLY, REPLY.replace("furniture", "furnishings")
    (observation,) = observe(reply, corrected)
    assert observation.text == 'Say "furnishings" instead of "furniture".' and observation.strength == 0.5
    assert suggest(LearningInput(feedback=[FeedbackSample(1, reply, "down", corrected)])) == []


def test_cutting_to_three_sentences_asks_for_at_most_three():
    corrected = (
        "Making a home feel welcoming on a budget is very doable! Start by clearing clutter, because a tidy room "
        "feels calm. Add a few plants, which bring color and life."
    )
    observations = observe(REPLY, corrected)
    length = only(observations, "max_sentences")
    assert length.value == 3
    assert length.text == "Answer in at most three sentences."
    assert length.rule == {"type": "max_sentences", "value": 3}
    assert length.strength >= 0.7
    assert "6" in length.detail and "3" in length.detail
    # The words of the sentences that were cut are not "never use" candidates: they went with their sentence.
    assert by_kind(observations, "forbidden") == []


def test_removing_one_sentence_of_many_is_weak_evidence():
    corrected = REPLY.rsplit(" Small changes", 1)[0]
    length = only(observe(REPLY, corrected), "max_sentences")
    assert length.value == 5 and length.strength < 0.5


def test_trimming_words_inside_sentences_asks_for_a_word_limit():
    reply = (
        "Tea is a drink that people have enjoyed for many centuries in many countries. "
        "It is made by steeping leaves of the tea plant in water that is hot."
    )
    corrected = "Tea is an old drink. It is made by steeping leaves in hot water."
    observation = only(observe(reply, corrected), "max_words")
    assert observation.value == 20 and observation.rule == {"type": "max_words", "value": 20}
    assert by_kind(observe(reply, corrected), "max_sentences") == []


def test_cutting_mid_sentence_reads_as_a_word_limit_not_a_sentence_limit():
    corrected = "Making a home feel welcoming on a budget is very doable! Start by clearing clutter, because a tidy."
    observations = observe(REPLY, corrected)
    assert only(observations, "max_words").value == 20
    assert by_kind(observations, "max_sentences") == []


def test_a_much_longer_correction_asks_for_detail():
    reply = "Plants help. Lamps help."
    corrected = (
        reply
        + " Rugs soften a floor and add warmth. Mirrors make a room look bigger. Curtains frame the windows nicely."
    )
    observation = only(observe(reply, corrected), "min_sentences")
    assert observation.value == 5 and observation.rule is None


def test_lowercase_correction_asks_for_lowercase():
    observations = observe(REPLY, REPLY.lower())
    casing = only(observations, "casing")
    assert casing.rule == {"type": "casing", "value": "lower"}
    assert casing.text == "Write every reply in lowercase letters only."
    assert casing.strength >= 0.8
    assert len(observations) == 1  # same words, same punctuation: nothing else changed


def test_lowercasing_one_word_is_not_a_casing_preference():
    assert by_kind(observe(REPLY, REPLY.replace("Warm", "warm")), "casing") == []


def test_bullet_list_correction_asks_for_bullets():
    sentences = [s.strip() for s in REPLY.replace("! ", "!|").replace(". ", ".|").split("|")]
    corrected = "\n".join("- " + sentence for sentence in sentences)
    observations = observe(REPLY, corrected)
    bullets = only(observations, "list_style")
    assert bullets.rule == {"type": "list_style", "value": "bullets"}
    assert bullets.strength >= 0.8
    assert len(observations) == 1  # the words and sentences are unchanged


def test_turning_a_list_into_prose_asks_for_no_lists():
    reply = "Ideas:\n1. Add plants.\n2. Use warm lamps.\n3. Move the sofa."
    observation = only(observe(reply, "Ideas: add plants, use warm lamps and move the sofa."), "list_style")
    assert observation.rule == {"type": "list_style", "value": "none"}


def test_numbered_correction_has_no_engine_rule_but_a_check():
    reply = "Add plants. Use warm lamps. Move the sofa."
    observation = only(observe(reply, "1. Add plants.\n2. Use warm lamps.\n3. Move the sofa."), "list_style")
    assert observation.check == {"type": "list_style", "value": "numbered"} and observation.rule is None


def test_exclamation_marks_removed_everywhere():
    corrected = REPLY.replace("!", ".")
    observation = only(observe(REPLY, corrected), "forbidden")
    assert observation.rule == {"type": "forbidden", "value": ["!"], "ignore_case": True}
    assert observation.text == "Never use exclamation marks."


def test_one_exclamation_mark_left_means_no_punctuation_rule():
    reply = "Great question! Plants help! Lamps help too."
    assert by_kind(observe(reply, "Great question! Plants help. Lamps help too."), "forbidden") == []


def test_commas_removed_everywhere():
    corrected = REPLY.replace(",", "")
    assert only(observe(REPLY, corrected), "forbidden").text == "Never use commas."


def test_added_closing_line():
    observation = only(observe(REPLY, REPLY + "\nBest regards."), "closing")
    assert observation.value == "Best regards."
    assert observation.text == 'End every reply with the line "Best regards."'
    assert observation.rule == {"type": "closing", "value": "Best regards."}


def test_added_opening():
    observation = only(observe(REPLY, "Answer: " + REPLY), "opening")
    assert observation.rule == {"type": "opening", "value": "Answer:"}
    assert observation.text == 'Start every reply with "Answer:".'


def test_a_long_added_paragraph_is_content_not_a_closing():
    extra = (
        " Also think about the colors of the walls, because paint is cheap and changes a room more than anything else."
    )
    assert by_kind(observe(REPLY, REPLY + extra), "closing") == []


def test_word_removed_everywhere():
    corrected = REPLY.replace("very ", "")
    observations = observe(REPLY, corrected)
    observation = only(observations, "forbidden")
    assert observation.value == ["very"]
    assert observation.text == 'Never use the word "very".'
    assert observation.rule == {"type": "forbidden", "value": ["very"], "ignore_case": True}
    assert observation.strength == 0.75  # two occurrences removed in context


def test_word_removed_once_but_kept_elsewhere_is_not_forbidden():
    corrected = REPLY.replace("very doable", "doable")
    assert by_kind(observe(REPLY, corrected), "forbidden") == []


def test_word_replaced_everywhere_by_one_other_word():
    reply = "You can utilize plants. Also utilize lamps and utilize rugs."
    corrected = "You can use plants. Also use lamps and use rugs."
    observation = only(observe(reply, corrected), "forbidden")
    assert observation.text == 'Say "use" instead of "utilize".'
    assert observation.rule == {"type": "forbidden", "value": ["utilize"], "ignore_case": True}


def test_emoji_removed():
    reply = "Plants bring life 🌿 and lamps bring warmth 💡 to a room."
    observation = only(observe(reply, "Plants bring life and lamps bring warmth to a room."), "no_emoji")
    assert observation.rule == {"type": "no_emoji"} and observation.strength == 0.75


def test_translation_is_a_language_preference():
    reply = "To make your home welcoming, add plants, warm lamps and a soft rug in the living room."
    corrected = (
        "Pour rendre votre maison accueillante, ajoutez des plantes, des lampes chaudes et un tapis doux dans le salon."
    )
    observations = observe(reply, corrected)
    language = only(observations, "language")
    assert language.value == "fr" and language.text == "Reply in French." and language.rule is None
    assert by_kind(observations, "forbidden") == []  # a rewrite removes no words "in context"


def test_a_rewrite_in_the_same_language_is_no_language_preference():
    corrected = "Plants, lamps and a rug are cheap ways to make a living room feel like home to everyone who visits."
    assert by_kind(observe(REPLY, corrected), "language") == []


@pytest.mark.parametrize(
    "check",
    [
        {"type": "max_sentences", "value": 3},
        {"type": "max_sentences", "value": 1},
        {"type": "max_words", "value": 50},
        {"type": "min_sentences", "value": 6},
        {"type": "forbidden", "value": ["very"], "ignore_case": True},
        {"type": "forbidden", "value": ["!"], "ignore_case": True},
        {"type": "closing", "value": "Best regards."},
        {"type": "opening", "value": "Answer:"},
        {"type": "casing", "value": "lower"},
        {"type": "list_style", "value": "bullets"},
        {"type": "list_style", "value": "none"},
        {"type": "no_emoji"},
        {"type": "language", "value": "fr"},
    ],
)
def test_principle_texts_read_back_as_their_check(check):
    assert check_from_text(principle_text(check)) == check


def test_user_wording_is_read_and_unknown_text_is_not():
    assert check_from_text("Please keep it to no more than 4 sentences") == {"type": "max_sentences", "value": 4}
    assert check_from_text("Don't use the word 'basically'.") == {
        "type": "forbidden",
        "value": ["basically"],
        "ignore_case": True,
    }
    assert check_from_text("Be kind and encouraging.") is None


def test_engine_rules_keep_to_the_engine_vocabulary():
    assert engine_rule({"type": "language", "value": "fr"}) is None
    assert engine_rule({"type": "min_sentences", "value": 5}) is None
    assert engine_rule({"type": "list_style", "value": "numbered"}) is None
    assert engine_rule({"type": "max_words", "value": 40}) == {"type": "max_words", "value": 40}


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        ({"type": "max_sentences", "value": 2}, "One. Two.", "One. Two. Three."),
        ({"type": "forbidden", "value": ["very"], "ignore_case": True}, "Everything is fine.", "It is Very fine."),
        ({"type": "closing", "value": "Best regards."}, "Fine.\nBest regards.", "Best regards.\nFine."),
        ({"type": "opening", "value": "Answer:"}, "Answer: yes.", "Yes. Answer: yes."),
        ({"type": "casing", "value": "lower"}, "all lower.", "Not all lower."),
        ({"type": "list_style", "value": "bullets"}, "- one\n- two", "one\ntwo"),
        ({"type": "no_emoji"}, "Plain text.", "Text 🎉"),
    ],
)
def test_satisfies(check, good, bad):
    assert satisfies(check, good) and not satisfies(check, bad)


def test_cutting_after_a_line_is_a_sentence_limit():
    reply = (
        "Tea is lovely. There are many kinds:\n\n1. Green tea is light.\n2. Black tea is strong.\n3. White tea is rare."
    )
    observations = observe(reply, "Tea is lovely. There are many kinds:")
    assert only(observations, "max_sentences").value == 2
    assert by_kind(observations, "max_words") == []
