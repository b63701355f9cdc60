"""One generation contract at every entry: the bounds come from the engine, and a weight of 0 means inactive
(kept, never applied) on the conversation API, the OpenAI endpoint, the stored job and the engine alike."""

import pytest

from alignment_engine import InvalidParameterError, Principle
from alignment_engine.config import MAX_ALPHA, MIN_TEMPERATURE
from assistant.execution import generation_request_build
from assistant.models import GenerationJob
from tests.factories import PrincipleFactory

pytestmark = pytest.mark.django_db
COMPLETIONS = "/api/v1/chat/completions"


def messages_url(conversation):
    return f"/api/v1/conversations/{conversation.pk}/messages/"


@pytest.mark.parametrize(
    ("settings_sent", "field"),
    [
        ({"alpha": MAX_ALPHA + 1}, "settings.alpha"),
        ({"alpha": -0.5}, "settings.alpha"),
        ({"temperature": MIN_TEMPERATURE / 2}, "settings.temperature"),
        ({"top_p": 1.5}, "settings.top_p"),
        ({"seed": 2**63}, "settings.seed"),
    ],
)
def test_conversation_api_refuses_what_the_engine_would_refuse(alice_client, conversation, settings_sent, field):
    response = alice_client.post(messages_url(conversation), {"content": "Hi", "settings": settings_sent})
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not GenerationJob.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"alpha": MAX_ALPHA + 1}, "alpha"),
        ({"top_p": 1.5}, "top_p"),
        ({"seed": 2**63}, "seed"),
    ],
)
def test_openai_endpoint_refuses_what_the_engine_would_refuse(alice_client, body, field):
    response = alice_client.post(COMPLETIONS, {"messages": [{"role": "user", "content": "Hi"}], **body})
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not GenerationJob.objects.exists()


def test_the_largest_alpha_the_engine_takes_is_accepted(alice_client, conversation, run_jobs):
    with run_jobs():
        response = alice_client.post(messages_url(conversation), {"content": "Hi", "settings": {"alpha": MAX_ALPHA}})
    assert response.status_code == 202, response.content
    assert GenerationJob.objects.get().alpha == MAX_ALPHA


def test_a_weight_0_principle_is_kept_but_not_applied_to_conversation_replies(
    alice, alice_client, conversation, run_jobs
):
    applied = PrincipleFactory(owner=alice, text="Be brief.", weight=1.5)
    PrincipleFactory(owner=alice, text="Talk like a pirate.", weight=0)
    with run_jobs():
        response = alice_client.post(messages_url(conversation), {"content": "Hi"})
    job = alice_client.get(response["Location"]).json()
    assert job["reply"]["content"].startswith("echo Hi (1 principles")
    assert [(p["principle_id"], p["weight"]) for p in job["principle_versions"]] == [(applied.pk, 1.5)]
    listed = alice_client.get("/api/v1/principles/").json()["results"]
    assert sorted(p["weight"] for p in listed) == [0.0, 1.5]  # still there, and still active


@pytest.mark.django_db(transaction=True)
def test_a_weight_0_principle_of_the_openai_endpoint_is_not_applied(alice_client):
    response = alice_client.post(
        COMPLETIONS,
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "principles": [{"text": "Talk like a pirate.", "weight": 0}, "Be brief."],
        },
    )
    assert response.status_code == 200, response.content
    assert "(1 principles" in response.json()["choices"][0]["message"]["content"]
    assert [p["text"] for p in GenerationJob.objects.get().principle_versions] == ["Be brief."]


def test_a_stored_job_with_a_weight_0_principle_reaches_the_engine_without_it(alice, conversation):
    job = GenerationJob.objects.create(
        owner=alice,
        input_messages=[{"role": "user", "content": "Hi"}],
        settings={"alpha": 2.0},
        principle_versions=[
            {"version_id": None, "principle_id": None, "text": "Off.", "weight": 0},
            {"version_id": None, "principle_id": None, "text": "On.", "weight": 2},
        ],
    )
    request = generation_request_build(job=job)
    assert list(request.principles) == [Principle("On.", 2.0)]


def test_a_stored_jobs_rules_reach_the_engine_parsed(alice):
    job = GenerationJob.objects.create(
        owner=alice,
        input_messages=[{"role": "user", "content": "Hi"}],
        settings={"alpha": 2.0},
        principle_versions=[
            {
                "version_id": None,
                "principle_id": None,
                "text": "Sign off.",
                "weight": 1,
                "rules": [{"type": "closing", "value": "Bye."}],
            }
        ],
    )
    (principle,) = generation_request_build(job=job).principles
    assert [rule.to_dict() for rule in principle.rules] == [{"type": "closing", "value": "Bye."}]


def test_the_engine_itself_refuses_a_weight_0_principle():
    """The engine applies every principle it is given; the service never hands it an inactive one."""
    with pytest.raises(InvalidParameterError):
        Principle("Off.", 0)


def test_the_job_records_the_rules_each_principle_is_enforced_as(alice, alice_client, conversation, run_jobs):
    PrincipleFactory(owner=alice, text="Never use the word 'very'.")
    PrincipleFactory(owner=alice, text="Be kind.")
    with run_jobs():
        response = alice_client.post(messages_url(conversation), {"content": "Hi"})
    job = alice_client.get(response["Location"]).json()
    assert [p["rules"] for p in job["principle_versions"]] == [
        [{"type": "forbidden", "value": ["very"], "ignore_case": True}],
        [],
    ]


@pytest.mark.django_db(transaction=True)
def test_per_request_principles_of_the_openai_endpoint_carry_rules(alice_client):
    response = alice_client.post(
        COMPLETIONS,
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "principles": [
                {"text": "Sign off politely.", "rules": [{"type": "closing", "value": "Bye."}]},
                "Answer in at most two sentences.",
            ],
        },
    )
    assert response.status_code == 200, response.content
    assert [p["rules"] for p in GenerationJob.objects.get().principle_versions] == [
        [{"type": "closing", "value": "Bye."}],
        [{"type": "max_sentences", "value": 2}],
    ]
    bad = alice_client.post(
        COMPLETIONS,
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "principles": [{"text": "x", "rules": [{"type": "closing"}]}],
        },
    )
    assert bad.status_code == 400 and "principles.0.rules.0.value" in bad.json()["error"]["fields"]
    clash = alice_client.post(
        COMPLETIONS,
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "principles": [
                {"text": "x", "rules": [{"type": "opening", "value": "Very well"}]},
                "Never use the word 'very'.",
            ],
        },
    )
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "rule_conflict"
    assert GenerationJob.objects.count() == 1
