"""core.compiled_queries: a lookup compiled once returns what its queryset returns, compiles nothing on later
calls, and runs the queryset wherever the shortcut cannot be taken."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from django.db import connection
from django.db.models import Count
from django.db.models.sql.compiler import SQLCompiler

from assistant import selectors
from assistant.models import Conversation, GenerationJob, Message
from core.compiled_queries import CompiledLookup
from preferences.models import Principle
from preferences.selectors import principle_versions_for_generation
from preferences.services import principle_update
from preferences.steering_selectors import steering_read
from preferences.steering_services import steering_rating_record, steering_set
from tests.compiler_spy import compiles
from tests.factories import PrincipleFactory, job_answering_hi

pytestmark = pytest.mark.django_db

JOB_FIELDS = [field.attname for field in GenerationJob._meta.concrete_fields]


def job_of(owner, *, with_reply: bool) -> GenerationJob:
    return job_answering_hi(
        owner,
        reply="Hello!" if with_reply else None,
        settings={"alpha": 2.0, "top_p": 0.8},
        principle_versions=[{"version_id": 1, "text": "Be brief.", "weight": 1.0}],
        timings={"decode_seconds": 0.5},
    )


def as_sql_calls(monkeypatch) -> list[int]:
    """One entry per SELECT compiled."""
    return compiles(monkeypatch, SQLCompiler)


@pytest.mark.parametrize("with_reply", [True, False])
def test_job_lookup_returns_what_the_queryset_returns(alice, with_reply, django_assert_num_queries):
    job = job_of(alice, with_reply=with_reply)
    expected = GenerationJob.objects.select_related("reply").get(pk=job.pk)
    for _ in range(2):  # the first call compiles, the second reuses
        with django_assert_num_queries(1):
            found = selectors.job_get(user=alice, job_id=job.pk)
            reply = found.reply if with_reply else None
            assert not with_reply or reply.content == "Hello!"
        assert [getattr(found, name) for name in JOB_FIELDS] == [getattr(expected, name) for name in JOB_FIELDS]
        assert found.settings == {"alpha": 2.0, "top_p": 0.8}  # JSON decoded by the field's converter
        assert isinstance(found.created_at, datetime) and found.created_at.tzinfo is not None
        assert found._state.adding is False and found._state.db == "default"
    if not with_reply:
        with django_assert_num_queries(0):  # a missing reply is known, as select_related leaves it
            assert not hasattr(found, "reply")


def test_job_lookup_keeps_each_owner_to_their_own(alice, bob):
    job = job_of(alice, with_reply=False)
    assert selectors.job_get(user=bob, job_id=job.pk) is None
    assert selectors.job_get(user=alice, job_id=uuid.uuid4()) is None
    assert selectors.job_get(user=alice, job_id=job.pk).pk == job.pk
    assert selectors.job_get_any(job_id=job.pk).pk == job.pk


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite prepares a UUID into hex text: not compiled there"
)
def test_a_compiled_lookup_compiles_once(alice, monkeypatch):
    jobs = [job_of(alice, with_reply=False) for _ in range(3)]
    lookup = CompiledLookup(
        lambda owner_id, job_id: GenerationJob.objects.filter(owner_id=owner_id, pk=job_id).order_by()[:1],
        owner_id=int,
        job_id=uuid.UUID,
    )
    calls = as_sql_calls(monkeypatch)
    found = [lookup.first(owner_id=alice.pk, job_id=job.pk).pk for job in jobs]
    assert found == [job.pk for job in jobs]
    assert len(calls) == 2  # the first call compiles with two sets of markers; the later ones compile nothing


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite prepares a UUID into hex text: not compiled there"
)
def test_the_service_lookups_take_the_compiled_path(alice, monkeypatch):
    job = job_of(alice, with_reply=True)
    PrincipleFactory(owner=alice, text="Be brief.")
    reads = [
        lambda: selectors.job_get(user=alice, job_id=job.pk),
        lambda: selectors.job_get_any(job_id=job.pk),
        lambda: selectors.conversation_history(conversation_id=job.conversation_id),
        lambda: selectors.conversation_has_pending_job(conversation_id=job.conversation_id),
        lambda: principle_versions_for_generation(user=alice),
        lambda: steering_read(user=alice),
    ]
    for read in reads:
        read()  # compiled
    calls = as_sql_calls(monkeypatch)
    for read in reads:
        read()
    assert calls == []


def test_a_value_of_another_type_runs_the_queryset(alice, monkeypatch):
    job = job_of(alice, with_reply=False)
    selectors.job_get(user=alice, job_id=job.pk)  # compiled
    calls = as_sql_calls(monkeypatch)
    assert selectors.job_get(user=alice, job_id=str(job.pk)).pk == job.pk
    assert len(calls) == 1  # compiled by the ORM, as any queryset


def test_narrow_integer_fields_keep_their_conditions(alice, bob):
    """A marker within every integer field's range: Django compiles no condition for a value outside a field's
    range (or an empty result), which would leave the SQL without it."""
    for position, text in enumerate(["a", "b", "c"]):
        PrincipleFactory(owner=alice, text=text, position=position)
    PrincipleFactory(owner=bob, text="bob's")
    from_position = CompiledLookup(
        lambda owner_id, start: (
            Principle.objects.filter(owner_id=owner_id, position__gte=start).order_by("position").values_list("text")
        ),
        owner_id=int,
        start=int,
    )
    at_position = CompiledLookup(
        lambda position: Principle.objects.filter(position=position).order_by("text").values_list("text"),
        position=int,
    )
    for _ in range(2):
        assert from_position.all(owner_id=alice.pk, start=1) == [("b",), ("c",)]
        assert from_position.all(owner_id=alice.pk, start=-5) == [("a",), ("b",), ("c",)]
        assert at_position.all(position=0) == [("a",), ("bob's",)]
        assert at_position.all(position=-1) == []


def test_a_constant_equal_to_a_marker_cannot_take_its_place(alice, monkeypatch):
    """A constant that happens to equal a marker makes the marker ambiguous: the lookup runs its queryset rather
    than substitute the constant."""
    PrincipleFactory(owner=alice, text="a", position=0)
    markers = iter([1234, 5678])  # the owner_id markers of the two compiles
    monkeypatch.setattr("core.compiled_queries.marker_for", lambda kind: next(markers))
    lookup = CompiledLookup(
        lambda owner_id: Principle.objects.filter(owner_id=owner_id).exclude(pk=1234).values_list("text"),
        owner_id=int,
    )
    assert lookup.all(owner_id=alice.pk) == [("a",)]
    assert lookup._compiled[("default", connection.vendor)] is None


def test_values_list_rows_match_the_queryset(alice):
    conversation = Conversation.objects.create(owner=alice, title="t")
    for position, role in enumerate(["user", "assistant", "user"]):
        Message.objects.create(conversation=conversation, role=role, content=f"m{position}", position=position)
    expected = list(
        Message.objects.filter(conversation=conversation)
        .order_by("position")
        .values_list("role", "content", "position")
    )
    assert selectors.conversation_history(conversation_id=conversation.pk) == expected
    assert selectors.conversation_has_pending_job(conversation_id=conversation.pk) is False
    job_of(alice, with_reply=False)  # another conversation's pending job
    assert selectors.conversation_has_pending_job(conversation_id=conversation.pk) is False
    job = job_of(alice, with_reply=False)
    assert selectors.conversation_has_pending_job(conversation_id=job.conversation_id) is True
    GenerationJob.objects.filter(pk=job.pk).update(status=GenerationJob.Status.SUCCEEDED)
    assert selectors.conversation_has_pending_job(conversation_id=job.conversation_id) is False


def test_the_submission_reads_match_their_querysets(alice, bob):
    PrincipleFactory(owner=alice, text="Be brief.", position=1)
    second = PrincipleFactory(owner=alice, text="Reply in French.", position=0)
    PrincipleFactory(owner=alice, text="Inactive.", active=False)
    PrincipleFactory(owner=bob, text="Bob's.")
    principle_update(principle=second, actor=alice, text="Reply in French, always.")
    versions = principle_versions_for_generation(user=alice)
    assert [(version.text, version.number) for version in versions] == [
        ("Reply in French, always.", 2),
        ("Be brief.", 1),
    ]
    assert principle_versions_for_generation(user=bob)[0].text == "Bob's."
    assert steering_read(user=alice).mode == "learned"
    arm = steering_read(user=alice).state["arms"][1]["alpha"]
    steering_rating_record(user_id=alice.pk, arm=arm, rating="up")
    steering_rating_record(user_id=alice.pk, arm=arm, rating="up")
    learned = steering_read(user=alice)
    assert [(a["ups"], a["downs"]) for a in learned.state["arms"] if a["alpha"] == arm] == [(2, 0)]
    assert sum(a["ups"] + a["downs"] for a in learned.state["arms"]) == 2
    assert all(a["ups"] == a["downs"] == 0 for a in steering_read(user=bob).state["arms"])  # alice's only
    steering_set(user=alice, mode="pinned", alpha=4.0)
    assert steering_read(user=alice)[:2] == ("pinned", 4.0)


def test_text_compiles_verbatim_and_a_lookup_that_escapes_it_runs_its_queryset(alice):
    """A text marker holds `%`, `_` and `\\`: where a lookup escapes its value (a LIKE pattern), the marker comes
    back changed and the lookup is not compiled, so no real value can skip the escaping."""
    for title in ["50% off", "50_ off", "50\\ off", "50 off", "50% OFF"]:
        Conversation.objects.create(owner=alice, title=title)

    def titles(lookup):
        return CompiledLookup(
            lambda value: Conversation.objects.filter(**{f"title__{lookup}": value}).values_list("title"), value=str
        )

    exact, contains, iexact = titles("exact"), titles("contains"), titles("iexact")
    for _ in range(2):
        assert exact.all(value="50% off") == [("50% off",)]
        assert exact.all(value="") == []
        assert sorted(contains.all(value="0%")) == [("50% OFF",), ("50% off",)]
        assert contains.all(value="0_") == [("50_ off",)]
        assert contains.all(value="0\\") == [("50\\ off",)]
        assert sorted(iexact.all(value="50% off")) == [("50% OFF",), ("50% off",)]
        assert iexact.all(value="50_ OFF") == [("50_ off",)]
    key = ("default", connection.vendor)
    assert exact._compiled[key] is not None
    assert contains._compiled[key] is None  # the pattern escapes the marker
    # PostgreSQL compares UPPER() of both sides (the value verbatim); SQLite escapes it into a LIKE pattern.
    assert (iexact._compiled[key] is not None) == (connection.vendor == "postgresql")


def test_a_lookup_refuses_what_it_cannot_compile():
    ordered_elsewhere = CompiledLookup(
        lambda owner_id: (
            Principle.objects.filter(owner_id=owner_id).order_by("position").values_list("text").distinct()
        ),
        owner_id=int,
    )
    with pytest.raises(TypeError):
        ordered_elsewhere.all(owner_id=1)
    lookup = CompiledLookup(
        lambda owner_id: Conversation.objects.filter(owner_id=owner_id).annotate(n=Count("messages")).values_list("n"),
        owner_id=int,
    )
    with pytest.raises(TypeError):
        lookup.all(owner_id=1)
    with pytest.raises(TypeError):
        lookup.all(user_id=1)
