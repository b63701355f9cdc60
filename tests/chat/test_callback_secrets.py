"""Each user's callbacks are signed with that user's own secret, which they can read and rotate."""

import re

import pytest
from django.db import connection

from assistant.callback_secrets import callback_secret_get, callback_secret_rotate
from assistant.callbacks import SIGNATURE_HEADER, callback_signature_valid
from assistant.models import CallbackSigningSecret
from tests.chat.receiver import CallbackReceiver
from tests.concurrency import run_at_once

SECRET_URL = "/api/v1/callbacks/secret/"
ROTATE_URL = "/api/v1/callbacks/secret/rotate/"


def submit_with_callback(client, conversation_id, url):
    response = client.post(f"/api/v1/conversations/{conversation_id}/messages/", {"content": "Hi", "callback_url": url})
    assert response.status_code in (200, 201, 202), response.content
    return response.json()["id"]


@pytest.fixture
def callbacks_allowed(settings):
    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = True
    settings.GENERATION_CALLBACK_BACKOFF_SECONDS = 0


def test_the_secret_is_created_once_per_user_and_never_cached(alice_client, bob_client):
    first = alice_client.get(SECRET_URL)
    assert first.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{64}", first.json()["secret"])
    assert "no-store" in first["Cache-Control"]
    assert alice_client.get(SECRET_URL).json() == first.json()
    assert bob_client.get(SECRET_URL).json()["secret"] != first.json()["secret"]


def test_rotation_replaces_the_secret(alice_client):
    before = alice_client.get(SECRET_URL).json()
    rotated = alice_client.post(ROTATE_URL)
    assert rotated.status_code == 200 and "no-store" in rotated["Cache-Control"]
    assert rotated.json()["secret"] != before["secret"] and rotated.json()["rotated_at"] >= before["rotated_at"]
    assert alice_client.get(SECRET_URL).json() == rotated.json()


def test_rotating_before_ever_reading_works(bob_client):
    rotated = bob_client.post(ROTATE_URL)
    assert rotated.status_code == 200
    assert bob_client.get(SECRET_URL).json()["secret"] == rotated.json()["secret"]


def test_anonymous_clients_get_401(api_client):
    for response in (api_client.get(SECRET_URL), api_client.post(ROTATE_URL)):
        assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_only_get_and_post_are_allowed(alice_client):
    for response in (alice_client.post(SECRET_URL), alice_client.get(ROTATE_URL)):
        assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_repeated_rotations_each_give_a_new_secret(alice, alice_client):
    rotated = {alice_client.post(ROTATE_URL).json()["secret"] for _ in range(3)}
    assert len(rotated) == 3
    assert alice_client.get(SECRET_URL).json()["secret"] in rotated


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_uses_and_rotations_all_succeed_with_one_row(alice):
    if connection.vendor == "sqlite":
        pytest.skip("the in-memory SQLite test database fails concurrent writers at once ('table is locked')")
    outcomes = run_at_once(
        lambda index: (callback_secret_rotate if index % 2 else callback_secret_get)(user_id=alice.pk), 8
    )
    assert [outcome for outcome in outcomes if isinstance(outcome, Exception)] == []
    assert CallbackSigningSecret.objects.filter(user_id=alice.pk).count() == 1


def test_deleting_the_user_deletes_the_secret(bob, bob_client):
    bob_client.get(SECRET_URL)
    bob.delete()
    assert not CallbackSigningSecret.objects.filter(user_id=bob.pk).exists()


@pytest.mark.django_db
def test_callbacks_are_signed_with_the_owners_secret_only(
    alice_client, bob_client, conversation, callbacks_allowed, run_jobs
):
    with CallbackReceiver(statuses=[200]) as receiver, run_jobs():
        submit_with_callback(alice_client, conversation.pk, receiver.url)
    headers, body = receiver.requests[-1]
    signature = headers[SIGNATURE_HEADER]
    assert alice_client.get(SECRET_URL).json()["secret"].encode() not in body
    assert callback_signature_valid(body=body, header=signature, secret=alice_client.get(SECRET_URL).json()["secret"])
    assert not callback_signature_valid(body=body, header=signature, secret=bob_client.get(SECRET_URL).json()["secret"])


@pytest.mark.django_db
def test_after_rotation_callbacks_use_the_new_secret(alice_client, conversation, callbacks_allowed, run_jobs):
    old = alice_client.get(SECRET_URL).json()["secret"]
    new = alice_client.post(ROTATE_URL).json()["secret"]
    with CallbackReceiver(statuses=[200]) as receiver, run_jobs():
        submit_with_callback(alice_client, conversation.pk, receiver.url)
    headers, body = receiver.requests[-1]
    assert callback_signature_valid(body=body, header=headers[SIGNATURE_HEADER], secret=new)
    assert not callback_signature_valid(body=body, header=headers[SIGNATURE_HEADER], secret=old)
