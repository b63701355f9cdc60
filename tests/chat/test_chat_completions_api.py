import json

import pytest

from assistant.models import GenerationJob
from tests.factories import PrincipleFactory

URL = "/api/v1/chat/completions"


@pytest.mark.django_db(transaction=True)
def test_completion_uses_the_users_principles(alice, alice_client):
    PrincipleFactory(owner=alice, text="Be brief.")
    response = alice_client.post(
        URL,
        {
            "model": "any",
            "messages": [{"role": "system", "content": "You help."}, {"role": "user", "content": "Hello"}],
            "max_tokens": 30,
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "scripted/echo"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "echo Hello (1 principles, alpha 3.0)"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 6, "total_tokens": 13}
    job = GenerationJob.objects.get(pk=body["principled"]["job_id"])
    assert job.conversation is None and job.settings["max_new_tokens"] == 30
    assert [p["text"] for p in job.principle_versions] == ["Be brief."]


@pytest.mark.django_db(transaction=True)
def test_extra_body_overrides_alpha_and_principles(alice, alice_client):
    PrincipleFactory(owner=alice, text="Be brief.")
    response = alice_client.post(
        URL,
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "alpha": 4.5,
            "principles": ["Talk like a pirate.", {"text": "Use emoji.", "weight": 2}],
            "temperature": 0,
            "max_tokens": 2,
        },
    )
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "echo Hi"
    assert body["choices"][0]["finish_reason"] == "length"
    job = GenerationJob.objects.get()
    assert job.alpha == 4.5 and job.settings["do_sample"] is False
    assert job.principle_versions == [
        {"version_id": None, "principle_id": None, "text": "Talk like a pirate.", "weight": 1.0, "rules": []},
        {"version_id": None, "principle_id": None, "text": "Use emoji.", "weight": 2.0, "rules": []},
    ]


@pytest.mark.django_db(transaction=True)
def test_streaming_chunks(alice_client):
    response = alice_client.post(
        URL,
        {"messages": [{"role": "user", "content": "Hi"}], "stream": True, "stream_options": {"include_usage": True}},
    )
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    lines = [line[len("data: ") :] for line in b"".join(response).decode().splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "echo Hi (0 principles, alpha 3.0)"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 6


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, field",
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": "x", "name": "n"}]}, "messages.0.name"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 100000}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": 3}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
        ({"messages": [{"role": "user", "content": "x"}], "alpha": -1}, "alpha"),
        ({"messages": [{"role": "user", "content": "x"}], "principles": [""]}, "principles.0.text"),
        (
            {"messages": [{"role": "user", "content": "x"}], "principles": [{"text": "a", "weight": 9}]},
            "principles.0.weight",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "stop": [1]}, "stop"),
        ({"messages": [{"role": "user", "content": "x"}], "logit_bias": {}}, "logit_bias"),
    ],
)
def test_bad_requests_name_the_field(alice_client, body, field):
    response = alice_client.post(URL, body)
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert any(name == field or name.startswith(field + ".") for name in fields), fields
    assert GenerationJob.objects.count() == 0


@pytest.mark.django_db
def test_too_long_messages_are_413(alice_client, settings):
    settings.GENERATION_MAX_CONVERSATION_CHARS = 5
    response = alice_client.post(URL, {"messages": [{"role": "user", "content": "123456"}]})
    assert response.status_code == 413 and response.json()["error"]["code"] == "conversation_too_large"


@pytest.mark.django_db
def test_bearer_token_is_accepted(alice):
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    _, token = AuthToken.objects.create(user=alice)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.post(URL, {"messages": []}).status_code == 400  # authenticated: validation runs
    client.credentials(HTTP_AUTHORIZATION="Bearer wrong")
    assert client.post(URL, {"messages": []}).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_openai_root_path_alias(alice):
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    _, token = AuthToken.objects.create(user=alice)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}]}, format="json")
    assert response.status_code == 200 and response.json()["object"] == "chat.completion"
