"""The number of SQL queries of the two hottest requests, pinned: a job poll and a message submission. Each query
costs the server about half a millisecond of CPU (the ORM's compiling it, the driver, the round trip), so a query
that creeps in, or one per principle or per message (N+1), shows here before it shows in bench/service.py.

Counted by Django inside the test's transaction, so the submission's `transaction.atomic` appears as a SAVEPOINT
and its RELEASE (outside a test they are the BEGIN and COMMIT that every write has). Counted for a client whose
token is known (its first request verified it; tests/foundation/test_token_cache.py counts that first one)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assistant.models import Conversation, GenerationJob, Message, Reply
from tests.factories import PrincipleFactory

pytestmark = pytest.mark.django_db

JOB_GET_QUERIES = 1  # the job with its reply
# the conversation's UPDATE (ownership, lock, activity); pending jobs; the history; the steering profile and
# arms (one query); the message INSERT; the principles; the job INSERT; + SAVEPOINT and RELEASE
SUBMISSION_QUERIES = 9


@pytest.fixture
def alice_client(alice_client):
    """Alice's client, its token verified once (as after any client's first request)."""
    assert alice_client.get("/api/v1/principles/").status_code == 200
    return alice_client


def conversation_with_history(owner, messages: int) -> Conversation:
    conversation = Conversation.objects.create(owner=owner, title="History")
    for position in range(messages):
        role = "user" if position % 2 == 0 else "assistant"
        Message.objects.create(conversation=conversation, role=role, content=f"Message {position}", position=position)
    return conversation


def submit(client, conversation: Conversation):
    return client.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "Hello there!"})


@pytest.mark.parametrize(("principles", "messages"), [(0, 0), (5, 12)])
def test_a_submission_takes_the_same_queries_whatever_the_principles_and_history(
    alice, alice_client, django_assert_num_queries, principles, messages
):
    for index in range(principles):
        PrincipleFactory(owner=alice, text=f"Principle {index}: answer briefly.")
    conversation = conversation_with_history(alice, messages)
    with django_assert_num_queries(SUBMISSION_QUERIES):
        response = submit(alice_client, conversation)
    assert response.status_code == 202, response.content
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert len(job.principle_versions) == principles and len(job.input_messages) == messages + 1
    assert response.json()["reply"] is None


@pytest.mark.parametrize("finished", [False, True])
def test_a_job_poll_takes_one_query(alice, alice_client, django_assert_num_queries, finished):
    conversation = conversation_with_history(alice, 1)
    job = GenerationJob.objects.create(
        owner=alice,
        conversation=conversation,
        user_message=conversation.messages.get(),
        input_messages=[{"role": "user", "content": "Message 0"}],
        status=GenerationJob.Status.SUCCEEDED if finished else GenerationJob.Status.QUEUED,
    )
    if finished:
        answer = Message.objects.create(conversation=conversation, role="assistant", content="Hi!", position=1)
        Reply.objects.create(job=job, message=answer, content="Hi!")
    with django_assert_num_queries(JOB_GET_QUERIES):
        response = alice_client.get(f"/api/v1/jobs/{job.pk}/")
    assert response.status_code == 200
    assert (response.json()["reply"] or {}).get("content") == ("Hi!" if finished else None)


def test_another_users_conversation_is_not_found_in_the_first_queries(alice, bob_client):
    conversation = conversation_with_history(alice, 2)
    with CaptureQueriesContext(connection) as queries:
        response = submit(bob_client, conversation)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert not any(query["sql"].startswith("INSERT") for query in queries.captured_queries)
    assert Message.objects.filter(conversation=conversation).count() == 2
    assert Conversation.objects.get(pk=conversation.pk).title == "History"
