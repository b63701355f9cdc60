"""Suggestions: listing by status, accept (a new principle, or a new version recording the suggestion as its
source), reject (never proposed again), ownership and conflicts."""

import pytest

from preferences.learning.evidence import SuggestionDraft
from preferences.models import PrincipleVersion, Suggestion
from preferences.suggestion_services import suggestions_store
from tests.factories import PrincipleFactory

pytestmark = pytest.mark.django_db


def draft(
    key="closing:best regards.",
    kind="new_principle",
    principle_id=None,
    text='End every reply with the line "Best regards."',
    weight=None,
    rule=None,
    feedback_ids=(1, 2),
):
    return SuggestionDraft(
        kind=kind,
        principle_id=principle_id,
        text=text,
        weight=weight,
        rule=rule,
        rationale="2 corrections added the closing line",
        feedback_ids=feedback_ids,
        key=key,
    )


def store(user, **kwargs) -> Suggestion:
    (suggestion,) = suggestions_store(user_id=user.pk, drafts=[draft(**kwargs)])
    return suggestion


def test_list_filters_by_status(alice, alice_client):
    first, second = store(alice, key="a"), store(alice, key="b")
    second.status = "rejected"
    second.save()
    body = alice_client.get("/api/v1/suggestions/?status=pending").json()
    assert [item["id"] for item in body["results"]] == [first.pk]
    item = body["results"][0]
    assert set(item) == {
        "id",
        "kind",
        "principle",
        "text",
        "weight",
        "rule",
        "rationale",
        "feedback_ids",
        "status",
        "created_at",
        "updated_at",
        "decided_at",
    }
    assert alice_client.get("/api/v1/suggestions/").json()["count"] == 2
    assert alice_client.get("/api/v1/suggestions/?status=maybe").status_code == 400


def test_accepting_a_new_principle_creates_it_with_the_suggestion_as_source(alice, alice_client):
    suggestion = store(alice)
    response = alice_client.post(f"/api/v1/suggestions/{suggestion.pk}/accept/")
    assert response.status_code == 200, response.content
    assert response.json()["text"] == suggestion.text and response.json()["active"] is True
    version = PrincipleVersion.objects.get(principle_id=response.json()["id"])
    assert version.suggestion_id == suggestion.pk
    suggestion.refresh_from_db()
    assert suggestion.status == "accepted" and suggestion.decided_at is not None
    again = alice_client.post(f"/api/v1/suggestions/{suggestion.pk}/accept/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "suggestion_decided"


@pytest.mark.parametrize(
    ("kind", "changes", "expected"),
    [
        (
            "edit_principle",
            {"text": "Answer in at most three sentences."},
            ("Answer in at most three sentences.", 1.0, True),
        ),
        ("weight", {"weight": 2.5, "text": None}, ("Answer in at most five sentences.", 2.5, True)),
        ("deactivate", {"text": None}, ("Answer in at most five sentences.", 1.0, False)),
    ],
)
def test_accepting_a_change_records_a_new_version(alice, alice_client, kind, changes, expected):
    principle = PrincipleFactory(owner=alice, text="Answer in at most five sentences.")
    suggestion = store(alice, kind=kind, principle_id=principle.pk, key=kind, **changes)
    response = alice_client.post(f"/api/v1/suggestions/{suggestion.pk}/accept/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["text"], body["weight"], body["active"], body["version"]) == (*expected, 2)
    assert principle.versions.get(number=2).suggestion_id == suggestion.pk


def test_the_measured_rule_becomes_the_principles_explicit_rule(alice, alice_client):
    suggestion = store(alice, rule={"type": "closing", "value": "Best regards."})
    body = alice_client.post(f"/api/v1/suggestions/{suggestion.pk}/accept/").json()
    assert body["rules"] == body["enforced_as"] == [{"type": "closing", "value": "Best regards."}]


def test_rejected_evidence_is_not_proposed_again(alice, alice_client):
    suggestion = store(alice)
    response = alice_client.post(f"/api/v1/suggestions/{suggestion.pk}/reject/")
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    assert suggestions_store(user_id=alice.pk, drafts=[draft()]) == []
    assert suggestions_store(user_id=alice.pk, drafts=[draft(key="other")]) != []


def test_pending_evidence_is_not_stored_twice(alice):
    store(alice)
    assert suggestions_store(user_id=alice.pk, drafts=[draft()]) == []
    assert Suggestion.objects.count() == 1


def test_accept_at_the_active_limit_is_a_409_and_changes_nothing(alice, alice_client, settings):
    settings.MAX_ACTIVE_PRINCIPLES_PER_USER = 1
    PrincipleFactory(owner=alice)
    suggestion = store(alice)
    response = alice_client.post(f"/api/v1/suggestions/{suggestion.pk}/accept/")
    assert response.status_code == 409
    suggestion.refresh_from_db()
    assert suggestion.status == "pending" and alice.principles.count() == 1


def test_other_users_get_404(alice, bob_client, charlie_client):
    suggestion = store(alice)
    for client in (bob_client, charlie_client):
        assert client.get(f"/api/v1/suggestions/{suggestion.pk}/").status_code == 404
        assert client.post(f"/api/v1/suggestions/{suggestion.pk}/accept/").status_code == 404
        assert client.post(f"/api/v1/suggestions/{suggestion.pk}/reject/").status_code == 404
        assert client.get("/api/v1/suggestions/").json()["count"] == 0
    suggestion.refresh_from_db()
    assert suggestion.status == "pending"
