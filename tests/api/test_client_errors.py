"""What a client can fix is a 4xx with the reason, never a 5xx: the principle token budget (409) and the model's
window refusing a prompt (400 on the OpenAI endpoint, with the real default model's own refusal)."""

from __future__ import annotations

import pytest

from assistant.models import GenerationJob
from core.exceptions import LimitExceeded
from preferences.budget import principle_budget_check, principle_tokens
from tests.factories import PrincipleFactory

URL = "/api/v1/chat/completions"


def test_principle_tokens_are_estimated_from_utf8_bytes():
    assert principle_tokens("abc") == 1 + 3
    assert principle_tokens("  " + "é" * 3 + "  ") == 2 + 3  # trimmed; 6 bytes
    assert principle_tokens("x" * 2000) > principle_tokens("x" * 1000)


def test_a_write_over_the_budget_is_refused_with_409_naming_it(alice, settings):
    settings.PRINCIPLE_TOKEN_BUDGET = 100
    PrincipleFactory(owner=alice, text="x" * 240)  # 80 + 3 tokens
    principle_budget_check(owner_id=alice.pk, text="y" * 30, weight=1.0, active=True)  # 83 + 13 = 96: fits
    with pytest.raises(LimitExceeded) as refused:
        principle_budget_check(owner_id=alice.pk, text="y" * 60, weight=1.0, active=True)  # 83 + 23
    assert refused.value.code == "principle_token_budget"
    assert "100 tokens" in refused.value.message and "text" in refused.value.fields


def test_inactive_principles_and_other_users_do_not_count(alice, bob, settings):
    settings.PRINCIPLE_TOKEN_BUDGET = 100
    PrincipleFactory(owner=alice, text="x" * 240, active=False)
    PrincipleFactory(owner=alice, text="x" * 240, weight=0.0)
    PrincipleFactory(owner=bob, text="x" * 240)
    principle_budget_check(owner_id=alice.pk, text="y" * 240, weight=1.0, active=True)
    principle_budget_check(owner_id=alice.pk, text="y" * 900, weight=0.0, active=True)  # weight 0: never applied


def test_a_write_that_lowers_the_total_is_allowed_even_over_the_budget(alice, settings):
    principle = PrincipleFactory(owner=alice, text="x" * 300)
    settings.PRINCIPLE_TOKEN_BUDGET = 10  # lowered after the principle was written: the user is over it now
    principle_budget_check(owner_id=alice.pk, text="x" * 150, weight=1.0, active=True, principle_id=principle.pk)
    principle_budget_check(owner_id=alice.pk, text="x" * 300, weight=1.0, active=False, principle_id=principle.pk)
    with pytest.raises(LimitExceeded):
        principle_budget_check(owner_id=alice.pk, text="x" * 301, weight=1.0, active=True, principle_id=principle.pk)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_prompt_over_the_models_window_is_a_400_not_a_502(alice_client, settings, monkeypatch):
    """The real default model refuses a prompt longer than its window; the OpenAI endpoint passes that on as 400."""
    from config.celery_app import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.GENERATION_IN_PROCESS = False
    monkeypatch.setattr(app.conf, "task_always_eager", True)
    principles = [f"Principle {index}: " + "always mention the weather in great detail. " * 40 for index in range(30)]
    response = alice_client.post(
        URL,
        {
            "messages": [{"role": "user", "content": "Hello"}],
            "max_tokens": 4,
            "principles": [text[:2000] for text in principles],
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "invalid_request" and "context holds" in body["message"]
    assert "messages" in body["fields"]
    job = GenerationJob.objects.get()
    assert job.status == GenerationJob.Status.FAILED and job.error_code == "invalid_request"
