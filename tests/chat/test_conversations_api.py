import pytest

from assistant.models import Conversation, Message

pytestmark = pytest.mark.django_db


def test_create_list_retrieve_delete(alice_client):
    created = alice_client.post("/api/v1/conversations/", {"title": "Plans"})
    assert created.status_code == 201, created.content
    conversation_id = created.json()["id"]

    listed = alice_client.get("/api/v1/conversations/").json()
    assert [item["id"] for item in listed["results"]] == [conversation_id]

    detail = alice_client.get(f"/api/v1/conversations/{conversation_id}/").json()
    assert detail["title"] == "Plans" and detail["messages"] == []

    assert alice_client.delete(f"/api/v1/conversations/{conversation_id}/").status_code == 204
    assert not Conversation.objects.filter(pk=conversation_id).exists()


def test_other_users_conversation_is_not_found(alice_client, bob_client, charlie_client, conversation):
    Message.objects.create(conversation=conversation, role="user", content="secret", position=0)
    for client in (bob_client, charlie_client):
        assert client.get("/api/v1/conversations/").json()["results"] == []
        for method, path in [
            ("get", f"/api/v1/conversations/{conversation.pk}/"),
            ("delete", f"/api/v1/conversations/{conversation.pk}/"),
            ("get", f"/api/v1/conversations/{conversation.pk}/messages/"),
            ("post", f"/api/v1/conversations/{conversation.pk}/messages/"),
        ]:
            response = getattr(client, method)(path, {"content": "hi"} if method == "post" else None)
            assert response.status_code == 404, (method, path, response.content)
            assert response.json()["error"]["code"] == "not_found"
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert Message.objects.filter(conversation=conversation).count() == 1


def test_auth_required(api_client, conversation):
    for method, path in [
        ("get", "/api/v1/conversations/"),
        ("post", "/api/v1/conversations/"),
        ("get", f"/api/v1/conversations/{conversation.pk}/"),
        ("post", f"/api/v1/conversations/{conversation.pk}/messages/"),
        ("get", "/api/v1/jobs/"),
        ("post", "/api/v1/chat/completions"),
    ]:
        assert getattr(api_client, method)(path).status_code == 401, path


def test_bad_input_names_the_field(alice_client):
    response = alice_client.post("/api/v1/conversations/", {"title": 5, "colour": "red"})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"colour"}
    response = alice_client.post("/api/v1/conversations/", {"title": 5})
    assert response.json()["error"]["fields"].keys() == {"title"}
    assert Conversation.objects.count() == 0
    assert alice_client.get("/api/v1/conversations/not-a-uuid/").status_code == 404
