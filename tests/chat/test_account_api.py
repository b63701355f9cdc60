"""Privacy: `GET /api/v1/me/export/` returns all of the user's data; `DELETE /api/v1/me/` deletes the account and
leaves nothing of the user behind (while other users keep theirs)."""

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from knox.models import AuthToken

from assistant.callback_secrets import callback_secret_get
from assistant.models import Conversation, Message
from preferences.learning.evidence import SuggestionDraft
from preferences.suggestion_services import suggestions_store
from tests.factories import PrincipleFactory

pytestmark = pytest.mark.django_db


def give_data(user, client, run_jobs):
    principle = PrincipleFactory(owner=user, text=f"Principle of {user.username}.")
    client.patch(f"/api/v1/principles/{principle.pk}/", {"weight": 2.0})  # a second version
    with run_jobs():
        conversation_id = client.post("/api/v1/conversations/", {"title": "Mine"}).json()["id"]
        job_id = client.post(f"/api/v1/conversations/{conversation_id}/messages/", {"content": "Hi"}).json()["id"]
    with run_jobs():
        client.post(f"/api/v1/jobs/{job_id}/feedback/", {"rating": "up", "comment": "Nice."})
    suggestions_store(
        user_id=user.pk,
        drafts=[
            SuggestionDraft(
                kind="new_principle",
                principle_id=None,
                text="Be brief.",
                weight=None,
                rule=None,
                rationale="measured",
                feedback_ids=(1,),
                key=f"k-{user.pk}",
            )
        ],
    )
    client.put("/api/v1/steering/", {"mode": "pinned", "alpha": 2.0})
    callback_secret_get(user_id=user.pk)
    return job_id


def rows_of(user_id) -> dict[str, int]:
    """Rows of every project model that refer to the user, by any user foreign key."""
    counts = {}
    for model in apps.get_models():
        if model._meta.app_label not in {"assistant", "preferences", "knox"}:
            continue
        for field in model._meta.get_fields():
            if getattr(field, "related_model", None) is get_user_model() and field.concrete:
                counts[f"{model.__name__}.{field.name}"] = model.objects.filter(**{field.name: user_id}).count()
    return counts


def test_export_has_everything_of_the_user_and_nothing_of_others(alice, bob, alice_client, bob_client, run_jobs):
    job_id = give_data(alice, alice_client, run_jobs)
    give_data(bob, bob_client, run_jobs)
    response = alice_client.get("/api/v1/me/export/")
    assert response.status_code == 200 and "no-cache" in response["Cache-Control"]
    body = response.json()
    assert body["user"]["username"] == "alice"
    assert [p["text"] for p in body["principles"]] == ["Principle of alice."]
    assert [v["number"] for v in body["principles"][0]["versions"]] == [1, 2]
    assert [c["title"] for c in body["conversations"]] == ["Mine"]
    assert [m["role"] for m in body["conversations"][0]["messages"]] == ["user", "assistant"]
    assert [j["id"] for j in body["jobs"]] == [job_id]
    assert [(f["job_id"], f["comment"]) for f in body["feedback"]] == [(job_id, "Nice.")]
    assert [s["text"] for s in body["suggestions"]] == ["Be brief."]
    assert (body["steering"]["mode"], body["steering"]["alpha"]) == ("pinned", 2.0)
    assert "Principle of bob." not in response.content.decode()
    text = response.content.decode()
    assert alice_client.token not in text and callback_secret_get(user_id=alice.pk).secret not in text


def test_delete_leaves_nothing_of_the_user_behind(alice, bob, alice_client, bob_client, run_jobs):
    give_data(alice, alice_client, run_jobs)
    give_data(bob, bob_client, run_jobs)
    bob_before = rows_of(bob.pk)
    assert all(
        rows_of(alice.pk)[name]
        for name in (
            "Principle.owner",
            "Conversation.owner",
            "GenerationJob.owner",
            "Feedback.owner",
            "Suggestion.owner",
            "SteeringProfile.owner",
            "CallbackSigningSecret.user",
            "AuthToken.user",
        )
    )
    assert alice_client.delete("/api/v1/me/").status_code == 204
    assert not get_user_model().objects.filter(pk=alice.pk).exists()
    assert set(rows_of(alice.pk).values()) == {0}
    assert rows_of(bob.pk) == bob_before
    assert alice_client.get("/api/v1/me/export/").status_code == 401  # the token went with the account
    assert AuthToken.objects.filter(user=bob).exists()


def insert_rows(table_and_columns: str, select: str, count: int, params: list) -> None:
    """`count` rows in one statement, each from `select` (where `n` is the row's number, from 0)."""
    if connection.vendor == "postgresql":
        sql = f"INSERT INTO {table_and_columns} SELECT {select} FROM generate_series(0, {count - 1}) AS s(n)"
    else:
        sql = (
            f"WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < {count - 1}) "
            f"INSERT INTO {table_and_columns} SELECT {select} FROM s"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_an_account_with_more_rows_than_a_statement_takes_parameters_is_deleted(alice, alice_client):
    """66,000 messages: more than the 65,535 parameters a statement bound on the server (DB_PREPARE_THRESHOLD > 0,
    the default) holds. The deletion cascade asks for the messages' related rows in batches that fit
    (core.postgresql), and the account goes, messages and all."""
    conversation = Conversation.objects.create(owner=alice)
    conversation_id = conversation.pk.hex if connection.vendor == "sqlite" else conversation.pk
    insert_rows(
        "assistant_message (conversation_id, role, content, position, created_at)",
        "%s, 'user', 'x', n, CURRENT_TIMESTAMP",
        66000,
        [conversation_id],
    )
    assert Message.objects.filter(conversation=conversation).count() == 66000
    assert alice_client.delete("/api/v1/me/").status_code == 204
    assert not get_user_model().objects.filter(pk=alice.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()


def test_an_export_of_more_conversations_than_a_statement_takes_parameters_holds_them_all(alice, alice_client):
    """66,000 conversations: their messages are read in chunks whose IN lists fit a bound statement, each
    conversation's messages in order, one query per chunk instead of one per conversation."""
    new_uuid = "gen_random_uuid()" if connection.vendor == "postgresql" else "lower(hex(randomblob(16)))"
    insert_rows(
        "assistant_conversation (id, owner_id, title, created_at, updated_at)",
        f"{new_uuid}, %s, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP",
        66000,
        [alice.pk],
    )
    talked = Conversation.objects.create(owner=alice, title="Talked")
    for position, content in [(1, "second"), (0, "first")]:
        Message.objects.create(conversation=talked, role="user", content=content, position=position)
    response = alice_client.get("/api/v1/me/export/")
    assert response.status_code == 200
    conversations = response.json()["conversations"]
    assert len(conversations) == 66001
    (exported,) = [conversation for conversation in conversations if conversation["id"] == str(talked.pk)]
    assert [message["content"] for message in exported["messages"]] == ["first", "second"]
