"""From many feedbacks to suggestion drafts: keep what the user's own samples confirm (PROSE's idea).

Each feedback with a correction yields ``Observation``s (``corrections.observe``); a comment that states a
known form of principle ("never use the word 'very'") is one more, strong observation. The texts the user
endorsed (every correction, and every reply rated up without one) are the samples that confirm or contradict:

- a **new principle** is proposed for a group of observations when it is supported by at least
  ``min_support`` feedbacks, or by one observation at least ``strong`` with nothing against it; every endorsed
  text that breaks its check cancels one supporting feedback;
- it becomes an **edit** of an existing principle whose check is of the same kind with another value (at most
  five sentences -> three), and is dropped when an active principle already asks for it (same check, or text
  within ``duplicate_score`` by rapidfuzz) or when no active-principle slot is left;
- an existing principle whose check the corrections keep restoring (the reply broke it, the correction fixed
  it) gets a **weight** raise; one that the endorsed texts keep breaking is **deactivated**, or its weight
  lowered when the evidence is mixed.

A draft's ``key`` names its evidence: the kind, the check, and the principle's version for drafts that touch
one. A rejected key is never proposed again, a pending or accepted one not twice; a principle's new version
(after an accepted edit or weight, or the user's own change) is a new situation with keys of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, utils

from preferences.learning import measures
from preferences.learning.corrections import Observation, observation_of, observe
from preferences.learning.phrasing import check_from_text, engine_rule, principle_text

# Readings of one trait that exclude each other: only the best supported of a family is proposed.
FAMILIES = {"max_sentences": "length", "max_words": "length", "min_sentences": "length"}
SLOTS = frozenset(
    {"max_sentences", "max_words", "min_sentences", "casing", "opening", "closing", "list_style", "language"}
)
LOOSEST_VALUE = {"max_sentences": max, "max_words": max, "min_sentences": min}


@dataclass(frozen=True)
class FeedbackSample:
    """One feedback as the learner sees it; ``rating`` is ``"up"``, ``"down"`` or ``None``.

    ``principle_versions`` (principle id -> version number) is the reply's provenance: the principles it was
    made with. When it is known, only feedback on replies made with a principle's current version counts for or
    against that principle (older feedback has already been acted on, or predates it).
    """

    feedback_id: int
    reply: str
    rating: str | None = None
    corrected_text: str | None = None
    comment: str | None = None
    principle_versions: Mapping[int, int] | None = None

    @property
    def endorsed_text(self) -> str | None:
        """The text the user vouched for: the correction, else the reply when rated up without one."""
        if self.corrected_text and self.corrected_text.strip():
            return self.corrected_text
        return self.reply if self.rating == "up" else None


@dataclass(frozen=True)
class ExistingPrinciple:
    """A principle of the user; ``rule`` as stored, or ``None`` (then its text is read by ``check_from_text``)."""

    principle_id: int
    text: str
    weight: float = 1.0
    rule: dict[str, Any] | None = None
    active: bool = True
    version: int = 1

    @property
    def check(self) -> dict[str, Any] | None:
        return dict(self.rule) if self.rule else check_from_text(self.text)


@dataclass(frozen=True)
class Policy:
    """Thresholds and bounds; the service fills the limits from its settings.

    ``weight_min`` stays above zero (the engine refuses a weight of 0): a principle that should stop acting is
    deactivated instead.
    """

    min_support: int = 2
    strong: float = 0.8
    duplicate_score: float = 90.0
    max_active_principles: int = 50
    weight_step: float = 0.5
    weight_min: float = 0.5
    weight_max: float = 5.0


@dataclass(frozen=True)
class SuggestionDraft:
    """A suggestion to store: ``kind`` is ``new_principle``, ``edit_principle``, ``weight`` or ``deactivate``."""

    kind: str
    principle_id: int | None
    text: str | None
    weight: float | None
    rule: dict[str, Any] | None
    rationale: str
    feedback_ids: tuple[int, ...]
    key: str


@dataclass(frozen=True)
class LearningInput:
    """Everything ``suggest`` needs about one user.

    ``rejected_keys``: keys of the suggestions the user rejected; ``proposed_keys``: keys of those pending or
    accepted (an accepted one is not proposed again either, even after the user undoes it by hand).
    ``pending_new_principles``: pending ``new_principle`` suggestions, which count against the limit.
    """

    feedback: Sequence[FeedbackSample]
    principles: Sequence[ExistingPrinciple] = ()
    rejected_keys: frozenset[str] = frozenset()
    proposed_keys: frozenset[str] = frozenset()
    pending_new_principles: int = 0
    policy: Policy = field(default_factory=Policy)


@dataclass
class _Candidate:
    group: str
    observations: list[tuple[int, Observation]] = field(default_factory=list)

    @property
    def check(self) -> dict[str, Any]:
        check = dict(self.observations[0][1].check)
        if check["type"] in LOOSEST_VALUE:
            check["value"] = LOOSEST_VALUE[check["type"]](obs.check["value"] for _, obs in self.observations)
        return check

    @property
    def text(self) -> str:
        texts = {obs.text for _, obs in self.observations}
        # A wording of its own (say "use" instead of "utilize") only when every observation agrees on it.
        return texts.pop() if len(texts) == 1 else principle_text(self.check)

    @property
    def supporters(self) -> tuple[int, ...]:
        return tuple(sorted({feedback_id for feedback_id, _ in self.observations}))

    @property
    def strongest(self) -> float:
        return max(obs.strength for _, obs in self.observations)


def observations_of(sample: FeedbackSample) -> list[Observation]:
    """What one feedback shows: the measured differences of its correction, and a principle its comment states."""
    found = observe(sample.reply, sample.corrected_text) if sample.corrected_text else []
    stated = check_from_text(sample.comment) if sample.comment else None
    if stated:
        found.append(observation_of(stated, 0.9, f"the comment says {sample.comment.strip()!r}"))
    return found


def _canonical(check: dict[str, Any] | None) -> str:
    return json.dumps(check, sort_keys=True) if check else ""


def _ids(feedback_ids: Iterable[int]) -> str:
    return ", ".join(str(feedback_id) for feedback_id in sorted(feedback_ids))


def _violations(check: dict[str, Any], samples: Sequence[FeedbackSample]) -> tuple[int, ...]:
    """Feedbacks whose endorsed text breaks ``check``."""
    return tuple(
        sample.feedback_id
        for sample in samples
        if sample.endorsed_text is not None and not measures.satisfies(check, sample.endorsed_text)
    )


def _restorations(check: dict[str, Any], samples: Sequence[FeedbackSample]) -> tuple[int, ...]:
    """Feedbacks whose reply broke ``check`` and whose correction satisfies it."""
    return tuple(
        sample.feedback_id
        for sample in samples
        if sample.corrected_text
        and not measures.satisfies(check, sample.reply)
        and measures.satisfies(check, sample.corrected_text)
    )


def _candidates(samples: Sequence[FeedbackSample]) -> list[_Candidate]:
    by_group: dict[str, _Candidate] = {}
    for sample in samples:
        for observation in observations_of(sample):
            by_group.setdefault(observation.group, _Candidate(observation.group)).observations.append(
                (sample.feedback_id, observation)
            )
    return list(by_group.values())


def _confirmed(candidate: _Candidate, against: tuple[int, ...], policy: Policy) -> bool:
    net = len(candidate.supporters) - len(against)
    return net >= policy.min_support or (net >= 1 and not against and candidate.strongest >= policy.strong)


def _rationale(candidate: _Candidate, against: tuple[int, ...]) -> str:
    details = "; ".join(f"feedback {feedback_id}: {obs.detail}" for feedback_id, obs in candidate.observations)
    if against:
        verdict = f"{len(against)} text(s) you endorsed break it (feedback {_ids(against)})"
    else:
        verdict = "no feedback contradicts it"
    return f"Measured in {len(candidate.supporters)} feedback(s): {details}; {verdict}."


def _duplicates(text: str, check: dict[str, Any], principle: ExistingPrinciple, policy: Policy) -> bool:
    if principle.check and _canonical(principle.check) == _canonical(check):
        return True
    return fuzz.token_sort_ratio(text, principle.text, processor=utils.default_process) >= policy.duplicate_score


def _refines(check: dict[str, Any], principle: ExistingPrinciple) -> bool:
    """Whether ``check`` replaces what ``principle`` asks for (same kind of preference, another value)."""
    own = principle.check
    return (
        bool(own) and check["type"] in SLOTS and own["type"] == check["type"] and _canonical(own) != _canonical(check)
    )


def _deactivation(principle: ExistingPrinciple, broken: tuple[int, ...]) -> SuggestionDraft:
    return SuggestionDraft(
        kind="deactivate",
        principle_id=principle.principle_id,
        text=None,
        weight=None,
        rule=None,
        rationale=(
            f"{len(broken)} text(s) you endorsed break this principle (feedback {_ids(broken)}) "
            "and no correction restored it."
        ),
        feedback_ids=broken,
        key=f"deactivate:{principle.principle_id}:v{principle.version}",
    )


def _reweighting(
    principle: ExistingPrinciple, broken: tuple[int, ...], restored: tuple[int, ...], policy: Policy
) -> SuggestionDraft | None:
    if len(restored) >= policy.min_support and not broken:
        weight, direction = min(policy.weight_max, principle.weight + policy.weight_step), "raise"
        rationale = (
            f"In {len(restored)} corrections the reply broke this principle and the correction restored it "
            f"(feedback {_ids(restored)}): it is followed too weakly."
        )
    elif len(broken) >= policy.min_support and restored:
        weight, direction = max(policy.weight_min, principle.weight - policy.weight_step), "lower"
        rationale = (
            f"Mixed feedback: {len(broken)} text(s) you endorsed break this principle (feedback {_ids(broken)}), "
            f"{len(restored)} correction(s) restored it (feedback {_ids(restored)})."
        )
    else:
        return None
    if round(weight, 3) == round(principle.weight, 3):
        return None
    return SuggestionDraft(
        kind="weight",
        principle_id=principle.principle_id,
        text=None,
        weight=round(weight, 3),
        rule=None,
        rationale=rationale,
        feedback_ids=tuple(sorted(set(broken) | set(restored))),
        key=f"weight:{principle.principle_id}:v{principle.version}:{direction}",
    )


def _made_with(principle: ExistingPrinciple, samples: Sequence[FeedbackSample]) -> list[FeedbackSample]:
    """The feedback on replies made with the principle's current version (all of it when provenance is unknown)."""
    return [
        sample
        for sample in samples
        if sample.principle_versions is None
        or sample.principle_versions.get(principle.principle_id) == principle.version
    ]


def suggest(data: LearningInput) -> list[SuggestionDraft]:
    """Suggestion drafts for one user: deactivations, edits, new principles (strongest first), weights.

    None of them is rejected or pending already; at most one draft touches each principle; new principles
    stop at the active-principle limit and never repeat an active principle.
    """
    samples, policy = list(data.feedback), data.policy
    active = [principle for principle in data.principles if principle.active and principle.check is not None]
    active_texts = [principle for principle in data.principles if principle.active]
    drafts: list[SuggestionDraft] = []
    touched: set[int] = set()

    def offer(draft: SuggestionDraft) -> bool:
        if draft.key in data.rejected_keys or draft.key in data.proposed_keys:
            return False
        drafts.append(draft)
        if draft.principle_id is not None:
            touched.add(draft.principle_id)
        return True

    for principle in active:
        evidence = _made_with(principle, samples)
        broken = _violations(principle.check, evidence)
        if len(broken) >= policy.min_support and not _restorations(principle.check, evidence):
            offer(_deactivation(principle, broken))

    ranked = []
    for candidate in _candidates(samples):
        check = candidate.check
        against = _violations(check, samples)
        if _confirmed(candidate, against, policy):
            ranked.append((len(candidate.supporters) - len(against), candidate.strongest, candidate, check, against))
    ranked.sort(key=lambda item: (-item[0], -item[1], item[2].group))

    slots = policy.max_active_principles - len(active_texts) - data.pending_new_principles
    families: set[str] = set()
    for _, _, candidate, check, against in ranked:
        family = FAMILIES.get(check["type"], candidate.group)
        if family in families:
            continue
        families.add(family)
        text, rule, rationale = candidate.text, engine_rule(check), _rationale(candidate, against)
        target = next((p for p in active if _refines(check, p)), None)
        if target is not None:
            if target.principle_id not in touched:
                offer(
                    SuggestionDraft(
                        kind="edit_principle",
                        principle_id=target.principle_id,
                        text=text,
                        weight=None,
                        rule=rule,
                        rationale=f"{rationale} It refines {target.text!r}.",
                        feedback_ids=candidate.supporters,
                        key=f"edit:{target.principle_id}:v{target.version}:{_canonical(check)}",
                    )
                )
            continue
        if slots <= 0 or any(_duplicates(text, check, principle, policy) for principle in active_texts):
            continue
        new = SuggestionDraft(
            kind="new_principle",
            principle_id=None,
            text=text,
            weight=None,
            rule=rule,
            rationale=rationale,
            feedback_ids=candidate.supporters,
            key=f"new:{_canonical(check)}",
        )
        if offer(new):
            slots -= 1

    for principle in active:
        if principle.principle_id in touched:
            continue
        evidence = _made_with(principle, samples)
        broken, restored = _violations(principle.check, evidence), _restorations(principle.check, evidence)
        draft = _reweighting(principle, broken, restored, policy)
        if draft is not None:
            offer(draft)
    return drafts
