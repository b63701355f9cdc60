"""Admin for the feedback loop: feedback with filters, suggestion review through the services, steering state."""

import pytest

from assistant.models import Feedback, GenerationJob, Reply
from preferences.learning.evidence import SuggestionDraft
from preferences.models import Suggestion
from preferences.steering_services import steering_rating_record
from preferences.suggestion_services import suggestions_store
from tests.factories import PrincipleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def feedback_on(user, principle, rating, model_id="smollm2"):
    job = GenerationJob.objects.create(
        owner=user,
        input_messages=[{"role": "user", "content": "Hi"}],
        settings={"alpha": 2.0},
        status="succeeded",
        model_id=model_id,
    )
    Reply.objects.create(job=job, content=f"reply {rating}")
    versions = [{"version_id": None, "principle_id": principle.pk, "text": principle.text, "weight": 1.0}]
    return Feedback.objects.create(
        job=job,
        owner=user,
        rating=rating,
        reply_text=f"reply {rating}",
        principle_versions=versions,
        alpha=2.0,
        model_id=model_id,
    )


def test_feedback_list_filters_by_rating_principle_user_and_model(staff_client, alice, bob):
    concise, french = PrincipleFactory(owner=alice, text="Be concise."), PrincipleFactory(owner=bob, text="French.")
    up = feedback_on(alice, concise, "up")
    down = feedback_on(bob, french, "down", model_id="other-model")
    page = staff_client.get("/admin/assistant/feedback/")
    assert page.status_code == 200 and "reply up" not in page.content.decode()  # the list shows no texts
    for query, expected in [
        ("?rating__exact=down", down),
        (f"?principle={concise.pk}", up),
        (f"?owner__id__exact={bob.pk}", down),
        ("?model_id=smollm2", up),
    ]:
        listed = staff_client.get("/admin/assistant/feedback/" + query).context["cl"].result_list
        assert list(listed) == [expected], query


def test_suggestions_are_accepted_and_rejected_through_the_services(staff_client, alice):
    drafts = [
        SuggestionDraft(
            kind="new_principle",
            principle_id=None,
            text=f"Rule {n}.",
            weight=None,
            rule=None,
            rationale="measured",
            feedback_ids=(1,),
            key=f"k{n}",
        )
        for n in range(2)
    ]
    first, second = suggestions_store(user_id=alice.pk, drafts=drafts)
    changelist = "/admin/preferences/suggestion/"
    staff_client.post(changelist, {"action": "accept_suggestions", "_selected_action": [first.pk]})
    staff_client.post(changelist, {"action": "reject_suggestions", "_selected_action": [second.pk]})
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("accepted", "rejected")
    principle = alice.principles.get()
    assert principle.text == "Rule 0." and principle.versions.get().suggestion_id == first.pk
    assert Suggestion.objects.count() == 2


def test_steering_state_per_user_is_shown(staff_client, alice, alice_client):
    alice_client.put("/api/v1/steering/", {"mode": "learned"})
    steering_rating_record(user_id=alice.pk, arm=2.0, rating="up")
    page = staff_client.get(f"/admin/preferences/steeringprofile/{alice.steering.pk}/change/")
    assert page.status_code == 200 and "2: 1/0" in page.content.decode()
