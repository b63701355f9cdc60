"""core.row_memo and `CompiledLookup.first_derived`: what was derived from a row is given again only for the very
row the query just returned, and a job poll answers what the database holds at that moment."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone as django_timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from assistant import apis, selectors
from assistant.apis import POLLED_JOBS
from assistant.models import GenerationJob, Message, Reply
from assistant.serializers import JobSerializer, job_output_json
from core.row_memo import MISSING, RowMemo, same_row
from tests.factories import job_answering_hi

compiled_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite prepares a UUID into hex text: the lookup is not compiled"
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (0.0, -0.0),
        (Decimal("1.0"), Decimal("1.00")),
        (1, True),
        (1, 1.0),
        (datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 1, 13, tzinfo=timezone(timedelta(hours=1)))),
    ],
)
def test_values_equal_by_eq_but_told_apart_by_a_derivation_are_not_the_same(a, b):
    assert (1, a) == (1, b)
    assert not same_row((1, a), (1, b))


def test_equal_rows_of_the_plain_column_types_are_the_same():
    when = datetime(2026, 1, 1, 12, tzinfo=UTC)
    key = uuid.uuid4()
    row = (key, 3, "text", 2.5, True, None, when, b"raw", Decimal("1.50"))
    again = (
        uuid.UUID(str(key)),
        3,
        "te" + "xt",
        2.5,
        True,
        None,
        when + timedelta(0),
        b"raw",
        Decimal("1.50"),
    )
    assert same_row(row, again)


def test_a_memo_gives_what_it_kept_for_the_same_row_only():
    memo = RowMemo(max_entries=2)
    assert memo.get("a", (1,)) is MISSING
    memo.put("a", (1,), "from 1")
    assert memo.get("a", (1,)) == "from 1"
    assert memo.get("a", (2,)) is MISSING
    assert memo.get("b", (1,)) is MISSING
    memo.put("a", (2,), "from 2")
    assert memo.get("a", (1,)) is MISSING and memo.get("a", (2,)) == "from 2"


def test_a_memo_keeps_at_most_its_entries_and_no_large_row():
    memo = RowMemo(max_entries=2, max_text=10)
    for key in "abc":
        memo.put(key, (key,), key.upper())
    assert len(memo) == 2 and memo.get("a", ("a",)) is MISSING  # the first kept is the first let go
    assert memo.get("c", ("c",)) == "C"
    memo.put("d", ("x" * 11,), "large")
    assert memo.get("d", ("x" * 11,)) is MISSING
    memo.put("e", ("x" * 5,), "y" * 6)  # the derived text counts too
    assert memo.get("e", ("x" * 5,)) is MISSING
    off = RowMemo(max_entries=0)
    off.put("a", (1,), "kept?")
    assert off.get("a", (1,)) is MISSING


class CountingShow:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, job: GenerationJob) -> bytes:
        self.calls += 1
        return job_output_json(job)


def shown(alice, job, show, memo):
    text = selectors.job_shown(user=alice, job_id=job.pk, show=show, memo=memo)
    return None if text is None else json.loads(text)


def stored(job) -> dict:
    """DRF's own rendering of the job as stored now."""
    return json.loads(
        JSONRenderer().render(JobSerializer(GenerationJob.objects.select_related("reply").get(pk=job.pk)).data)
    )


@compiled_only
def test_an_unchanged_row_is_shown_again_without_deriving(alice, django_assert_num_queries):
    job = job_answering_hi(alice, settings={"alpha": 2.0}, principle_versions=[])
    show, memo = CountingShow(), RowMemo()
    first = shown(alice, job, show, memo)
    with django_assert_num_queries(1):  # the row is read every time
        again = shown(alice, job, show, memo)
    assert again == first and show.calls == 1
    assert first == stored(job)


@compiled_only
@pytest.mark.parametrize(
    "change",
    [
        lambda job: GenerationJob.objects.filter(pk=job.pk).update(status="running", worker_id="w1"),
        lambda job: GenerationJob.objects.filter(pk=job.pk).update(settings={"alpha": 3.0}),
        lambda job: GenerationJob.objects.filter(pk=job.pk).update(generation_seconds=-0.0),
        lambda job: Reply.objects.create(
            job=job,
            message=Message.objects.create(conversation=job.conversation, role="assistant", content="Hi", position=1),
            content="Hi",
        ),
    ],
    ids=["status", "json column", "float sign", "reply row"],
)
def test_a_changed_row_is_derived_afresh(alice, change):
    job = job_answering_hi(alice, settings={"alpha": 2.0}, principle_versions=[], generation_seconds=0.0)
    show, memo = CountingShow(), RowMemo()
    before = shown(alice, job, show, memo)
    change(job)
    after = shown(alice, job, show, memo)
    assert show.calls == 2 and json.dumps(after, default=str) != json.dumps(before, default=str)
    assert after == stored(job)


@compiled_only
def test_the_worker_bookkeeping_is_not_read_by_a_poll(alice):
    job = job_answering_hi(alice, settings={"alpha": 2.0}, principle_versions=[])
    show, memo = CountingShow(), RowMemo()
    shown(alice, job, show, memo)
    GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=django_timezone.now(), claim_token=uuid.uuid4())
    shown(alice, job, show, memo)
    assert show.calls == 1


def test_no_row_is_none_and_another_owner_sees_nothing(alice, bob):
    job = job_answering_hi(alice, settings={"alpha": 2.0}, principle_versions=[])
    memo = RowMemo()
    assert shown(alice, job, job_output_json, memo)["id"] == str(job.pk)
    assert shown(bob, job, job_output_json, memo) is None
    assert selectors.job_shown(user=alice, job_id=uuid.uuid4(), show=job_output_json, memo=memo) is None


def test_the_querysets_path_derives_every_time(alice):
    job = job_answering_hi(alice, settings={"alpha": 2.0}, principle_versions=[])
    show, memo = CountingShow(), RowMemo()
    for _ in range(2):  # a value of another type than declared: the ORM's path, no row to compare
        selectors.job_shown(user=alice, job_id=str(job.pk), show=show, memo=memo)
    assert show.calls == 2 and len(memo) == 0


@pytest.fixture
def counted_polls(monkeypatch) -> CountingShow:
    """The poll view's derivations, counted (the memo starts empty)."""
    counting = CountingShow()
    monkeypatch.setattr(apis, "job_output_json", counting)
    POLLED_JOBS.clear()
    return counting


def test_a_poll_answers_each_state_of_the_job_as_it_is_stored(alice, alice_client, counted_polls):
    job = job_answering_hi(alice, settings={"alpha": 2.0}, principle_versions=[])
    url = f"/api/v1/jobs/{job.pk}/"
    states = [
        lambda: None,
        lambda: GenerationJob.objects.filter(pk=job.pk).update(status="running", started_at=django_timezone.now()),
        lambda: Reply.objects.create(
            job=job,
            message=Message.objects.create(conversation=job.conversation, role="assistant", content="Hi", position=1),
            content="Hi",
        ),
        lambda: GenerationJob.objects.filter(pk=job.pk).update(
            status="succeeded", finished_at=django_timezone.now(), completion_tokens=1
        ),
    ]
    for change in states:
        change()
        for _ in range(2):
            assert alice_client.get(url).json() == stored(job)
    assert stored(job)["status"] == "succeeded" and stored(job)["reply"]["content"] == "Hi"
    compiled = connection.vendor == "postgresql"
    assert counted_polls.calls == (len(states) if compiled else 2 * len(states))  # the second poll: the memo's


def drfs_own_poll(monkeypatch, client, url, **headers):
    """The same poll answered by DRF's own rendering of the memo's body (a Response of the parsed bytes)."""
    with monkeypatch.context() as patched:
        patched.setattr(apis, "rendered_json_response", lambda request, body: Response(json.loads(body)))
        return client.get(url, **headers)


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_a_polls_body_and_headers_are_what_drf_renders(alice, alice_client, counted_polls, monkeypatch, accept):
    job = job_answering_hi(alice, settings={"alpha": 2.0}, principle_versions=[])
    url = f"/api/v1/jobs/{job.pk}/"
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    drf = drfs_own_poll(monkeypatch, alice_client, url, **headers)
    for _ in range(2):  # derived, then the memo's
        sent = alice_client.get(url, **headers)
        assert type(sent) is not Response  # the bytes themselves, not DRF's rendering
        assert (sent.status_code, sent.content, dict(sent.items())) == (drf.status_code, drf.content, dict(drf.items()))
    assert drf.json() == stored(job)


def test_a_poll_negotiated_to_another_renderer_is_rendered_by_it(alice, alice_client, counted_polls):
    job = job_answering_hi(alice, settings={"alpha": 2.0}, principle_versions=[])
    url = f"/api/v1/jobs/{job.pk}/"
    alice_client.get(url)  # the memo holds the row's bytes
    indented = alice_client.get(url, HTTP_ACCEPT="application/json; indent=2")
    assert indented.status_code == 200 and indented.content.startswith(b'{\n  "id": ')
    assert json.loads(indented.content) == stored(job)
    indented.data["status"] = "changed"  # a rendered response's data is its own
    indented.data["settings"]["alpha"] = 99.0
    assert alice_client.get(url).json() == stored(job)
    assert json.loads(alice_client.get(url, HTTP_ACCEPT="application/json; indent=2").content) == stored(job)
    browsable = alice_client.get(url, HTTP_ACCEPT="text/html")
    assert browsable.status_code == 200 and browsable["Content-Type"].startswith("text/html")
    assert str(job.pk) in browsable.content.decode()


def test_a_poll_under_another_timezone_is_derived_for_it(alice, alice_client, counted_polls):
    job = job_answering_hi(alice, settings={"alpha": 2.0}, principle_versions=[])
    url = f"/api/v1/jobs/{job.pk}/"
    utc = alice_client.get(url).json()["created_at"]
    with django_timezone.override("Asia/Tokyo"):
        tokyo = alice_client.get(url).json()["created_at"]
        assert tokyo == stored(job)["created_at"]
    assert tokyo.endswith("+09:00") and utc.endswith("Z")
    assert alice_client.get(url).json()["created_at"] == utc


def test_a_long_poll_keeps_its_answers(alice, bob_client, alice_client, counted_polls):
    job = job_answering_hi(alice, settings={"alpha": 2.0}, principle_versions=[])
    url = f"/api/v1/jobs/{job.pk}/"
    alice_client.get(url)  # the memo holds the queued row
    assert alice_client.get(url, {"wait": "abc"}).status_code == 400
    assert alice_client.get(f"/api/v1/jobs/{uuid.uuid4()}/", {"wait": "abc"}).status_code == 404
    assert bob_client.get(url, {"wait": "1"}).status_code == 404
    GenerationJob.objects.filter(pk=job.pk).update(status="succeeded", finished_at=django_timezone.now())
    finished = alice_client.get(url, {"wait": "5"})  # finished: answered at once, from the row just read
    assert finished.status_code == 200 and finished.json() == stored(job)
