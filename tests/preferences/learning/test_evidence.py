"""Evidence thresholds, contradictions, rejected keys, the principle limit, duplicates, edits, weights."""

from __future__ import annotations

from preferences.learning.evidence import (
    ExistingPrinciple,
    FeedbackSample,
    LearningInput,
    Policy,
    SuggestionDraft,
    suggest,
)

TOPICS = ("plants", "lamps", "rugs", "mirrors", "curtains", "cushions", "shelves", "candles")


def reply(topic_offset: int = 0, sentences: int = 8) -> str:
    """A plain prose reply of ``sentences`` sentences, different for each offset."""
    parts = [
        f"You could add nice {TOPICS[(topic_offset + i) % len(TOPICS)]} to the room number {i + topic_offset}."
        for i in range(sentences)
    ]
    return " ".join(parts)


def first_sentences(text: str, count: int) -> str:
    return ". ".join(text.split(". ")[:count]).rstrip(".") + "."


def closing(sample_id: int) -> FeedbackSample:
    text = reply(sample_id)
    return FeedbackSample(sample_id, text, "down", text + "\nBest regards.")


def new_texts(drafts: list[SuggestionDraft]) -> list[str]:
    return [draft.text for draft in drafts if draft.kind == "new_principle"]


def test_no_feedback_or_no_correction_suggests_nothing():
    assert suggest(LearningInput(feedback=[])) == []
    samples = [FeedbackSample(1, reply(1), "down"), FeedbackSample(2, reply(2), "up", comment="Nice one.")]
    assert suggest(LearningInput(feedback=samples)) == []


def test_one_weak_observation_is_not_enough_two_confirm_it():
    assert suggest(LearningInput(feedback=[closing(1)])) == []
    drafts = suggest(LearningInput(feedback=[closing(1), closing(2)]))
    assert len(drafts) == 1
    draft = drafts[0]
    assert draft.kind == "new_principle" and draft.principle_id is None
    assert draft.text == 'End every reply with the line "Best regards."'
    assert draft.rule == {"type": "closing", "value": "Best regards."}
    assert draft.feedback_ids == (1, 2)
    assert "Best regards." in draft.rationale and "2 feedback" in draft.rationale


def test_one_strong_observation_is_enough():
    text = reply(1)
    drafts = suggest(LearningInput(feedback=[FeedbackSample(7, text, "down", text.lower())]))
    assert [(d.kind, d.rule, d.feedback_ids) for d in drafts] == [
        ("new_principle", {"type": "casing", "value": "lower"}, (7,))
    ]
    assert "upper-case" in drafts[0].rationale


def test_contradicting_feedback_cancels_support():
    liked_without_closing = [FeedbackSample(10 + i, reply(10 + i), "up") for i in range(2)]
    assert suggest(LearningInput(feedback=[closing(1), closing(2), *liked_without_closing])) == []
    drafts = suggest(LearningInput(feedback=[closing(1), closing(2), closing(3), liked_without_closing[0]]))
    assert new_texts(drafts) == ['End every reply with the line "Best regards."']
    assert "break it (feedback 10)" in drafts[0].rationale


def test_a_strong_observation_with_a_contradiction_is_not_enough():
    text = reply(1)
    samples = [FeedbackSample(1, text, "down", text.lower()), FeedbackSample(2, reply(2), "up")]
    assert suggest(LearningInput(feedback=samples)) == []


def test_a_rejected_or_pending_key_is_not_proposed_again():
    samples = [closing(1), closing(2)]
    (draft,) = suggest(LearningInput(feedback=samples))
    assert suggest(LearningInput(feedback=[*samples, closing(3)], rejected_keys=frozenset({draft.key}))) == []
    assert suggest(LearningInput(feedback=[*samples, closing(3)], proposed_keys=frozenset({draft.key}))) == []
    # The key names the evidence, not the feedback ids: more of the same evidence is still the same key.
    (again,) = suggest(LearningInput(feedback=[*samples, closing(3)]))
    assert again.key == draft.key and again.feedback_ids == (1, 2, 3)


def two_preferences() -> list[FeedbackSample]:
    """Feedback showing two preferences: a closing line (confirmed three times) and no emoji (strong in one)."""
    text = reply(3)
    with_emoji = text.replace("lamps", "lamps 💡").replace("rugs", "rugs 🧶").replace("candles", "candles 🕯️")
    return [closing(1), closing(2), FeedbackSample(3, with_emoji, "down", text + "\nBest regards.")]


def test_the_active_principle_limit_is_respected():
    samples = two_preferences()
    assert len(new_texts(suggest(LearningInput(feedback=samples)))) == 2
    one_left = LearningInput(
        feedback=samples,
        principles=[ExistingPrinciple(1, "Be kind.")],
        policy=Policy(max_active_principles=2),
    )
    assert len(new_texts(suggest(one_left))) == 1
    full = LearningInput(
        feedback=samples,
        principles=[ExistingPrinciple(1, "Be kind.")],
        pending_new_principles=1,
        policy=Policy(max_active_principles=2),
    )
    assert new_texts(suggest(full)) == []
    # An inactive principle takes no slot.
    inactive = LearningInput(
        feedback=samples,
        principles=[ExistingPrinciple(1, "Be kind.", active=False)],
        policy=Policy(max_active_principles=2),
    )
    assert len(new_texts(suggest(inactive))) == 2


def test_an_active_principle_is_not_duplicated():
    samples = [closing(1), closing(2)]
    same_rule = ExistingPrinciple(1, "Sign off politely.", rule={"type": "closing", "value": "Best regards."})
    assert new_texts(suggest(LearningInput(feedback=samples, principles=[same_rule]))) == []
    same_words = ExistingPrinciple(2, 'End every reply with the line "Best regards"!')
    assert new_texts(suggest(LearningInput(feedback=samples, principles=[same_words]))) == []
    # Once deactivated, the principle is no longer a duplicate.
    gone = ExistingPrinciple(2, 'End every reply with the line "Best regards."', active=False)
    assert len(new_texts(suggest(LearningInput(feedback=samples, principles=[gone])))) == 1


def shortened(sample_id: int, count: int = 3) -> FeedbackSample:
    text = reply(sample_id)
    return FeedbackSample(sample_id, text, "down", first_sentences(text, count))


def test_a_stricter_limit_edits_the_existing_principle():
    five = ExistingPrinciple(4, "Answer in at most five sentences.", version=2)
    drafts = suggest(LearningInput(feedback=[shortened(1), shortened(2, 2)], principles=[five]))
    assert [(d.kind, d.principle_id, d.text, d.rule) for d in drafts] == [
        ("edit_principle", 4, "Answer in at most three sentences.", {"type": "max_sentences", "value": 3})
    ]
    assert "Answer in at most five sentences." in drafts[0].rationale
    assert drafts[0].key.startswith("edit:4:v2:")


def test_a_consistently_contradicted_principle_is_deactivated():
    lower = ExistingPrinciple(
        5, "Write every reply in lowercase letters only.", rule={"type": "casing", "value": "lower"}
    )
    samples = [FeedbackSample(i, reply(i).lower(), "down", reply(i)) for i in (1, 2)]
    drafts = suggest(LearningInput(feedback=samples, principles=[lower]))
    assert [(d.kind, d.principle_id) for d in drafts] == [("deactivate", 5)]
    assert "feedback 1, 2" in drafts[0].rationale
    assert suggest(LearningInput(feedback=samples[:1], principles=[lower])) == []


def without_very(sample_id: int) -> FeedbackSample:
    text = reply(sample_id).replace("add nice", "add very nice")
    return FeedbackSample(sample_id, text, "down", reply(sample_id))


def test_a_principle_the_corrections_keep_restoring_gets_more_weight():
    very = ExistingPrinciple(
        6, 'Never use the word "very".', weight=1.0, rule={"type": "forbidden", "value": ["very"], "ignore_case": True}
    )
    drafts = suggest(LearningInput(feedback=[without_very(1), without_very(2)], principles=[very]))
    assert [(d.kind, d.principle_id, d.weight) for d in drafts] == [("weight", 6, 1.5)]
    capped = ExistingPrinciple(6, very.text, weight=5.0, rule=very.rule)
    assert suggest(LearningInput(feedback=[without_very(1), without_very(2)], principles=[capped])) == []


def test_mixed_evidence_lowers_the_weight():
    very = ExistingPrinciple(6, 'Never use the word "very".', weight=2.0)
    liked_with_very = [FeedbackSample(i, "That is very kind of you to ask.", "up") for i in (3, 4)]
    drafts = suggest(LearningInput(feedback=[without_very(1), *liked_with_very], principles=[very]))
    assert [(d.kind, d.weight, d.feedback_ids) for d in drafts] == [("weight", 1.5, (1, 3, 4))]


def test_only_feedback_on_the_current_version_counts_for_a_principle():
    very = ExistingPrinciple(6, 'Never use the word "very".', version=3)
    old = [
        FeedbackSample(s.feedback_id, s.reply, s.rating, s.corrected_text, principle_versions={6: 2})
        for s in (without_very(1), without_very(2))
    ]
    assert suggest(LearningInput(feedback=old, principles=[very])) == []
    current = [
        FeedbackSample(s.feedback_id, s.reply, s.rating, s.corrected_text, principle_versions={6: 3})
        for s in (without_very(1), without_very(2))
    ]
    assert [d.kind for d in suggest(LearningInput(feedback=current, principles=[very]))] == ["weight"]


def test_a_comment_stating_a_principle_is_strong_evidence():
    drafts = suggest(LearningInput(feedback=[FeedbackSample(1, reply(1), "down", comment="Please never use emoji.")]))
    assert [(d.kind, d.rule) for d in drafts] == [("new_principle", {"type": "no_emoji"})]
    assert "Please never use emoji." in drafts[0].rationale


def test_sentence_and_word_limits_exclude_each_other():
    samples = [shortened(1), shortened(2)]
    drafts = suggest(LearningInput(feedback=samples))
    assert [d.rule for d in drafts] == [{"type": "max_sentences", "value": 3}]


def test_results_are_deterministic():
    samples = two_preferences()
    assert suggest(LearningInput(feedback=samples)) == suggest(LearningInput(feedback=samples))
