"""The steering strength per user: learned by Thompson sampling from ratings (the job records its arm, the
rating teaches it), or pinned; an explicit alpha always wins and teaches nothing."""

import pytest

from assistant.models import GenerationJob
from preferences.models import SteeringArm

pytestmark = pytest.mark.django_db
STEERING = "/api/v1/steering/"


def submit(client, conversation, run_jobs, **settings_sent) -> GenerationJob:
    with run_jobs():
        body = {"content": "Hi", **({"settings": settings_sent} if settings_sent else {})}
        job_id = client.post(f"/api/v1/conversations/{conversation.pk}/messages/", body).json()["id"]
    return GenerationJob.objects.get(pk=job_id)


def rate(client, job, rating, run_jobs):
    with run_jobs():
        assert client.post(f"/api/v1/jobs/{job.pk}/feedback/", {"rating": rating}).status_code == 201


def test_a_new_user_learns_from_the_default_arm(alice_client):
    body = alice_client.get(STEERING).json()
    assert body["mode"] == "learned" and body["alpha"] == 3.0
    assert [(arm["alpha"], arm["ups"], arm["downs"]) for arm in body["arms"]] == [
        (0.0, 0, 0),
        (1.0, 0, 0),
        (2.0, 0, 0),
        (3.0, 0, 0),
        (5.0, 0, 0),
    ]


def test_the_job_records_its_arm_and_the_rating_teaches_it(alice, alice_client, conversation, run_jobs):
    job = submit(alice_client, conversation, run_jobs)
    assert (job.alpha, job.steering_arm) == (3.0, 3.0)
    rate(alice_client, job, "down", run_jobs)
    arms = {arm["alpha"]: arm for arm in alice_client.get(STEERING).json()["arms"]}
    assert (arms[3.0]["downs"], arms[3.0]["posterior_mean"]) == (1, round(1 / 3, 4))
    with run_jobs():
        alice_client.patch(f"/api/v1/jobs/{job.pk}/feedback/", {"rating": "up"})
    arms = {arm["alpha"]: arm for arm in alice_client.get(STEERING).json()["arms"]}
    assert (arms[3.0]["ups"], arms[3.0]["downs"]) == (1, 0)
    with run_jobs():
        alice_client.delete(f"/api/v1/jobs/{job.pk}/feedback/")
    assert SteeringArm.objects.get(owner=alice, alpha=3.0).ups == 0


def test_after_a_rating_requests_draw_an_arm_of_the_grid(alice_client, conversation, run_jobs):
    rate(alice_client, submit(alice_client, conversation, run_jobs), "down", run_jobs)
    drawn = {submit(alice_client, conversation, run_jobs).steering_arm for _ in range(12)}
    assert drawn <= {0.0, 1.0, 2.0, 3.0, 5.0} and len(drawn) > 1


def test_an_explicit_alpha_wins_and_teaches_nothing(alice, alice_client, conversation, run_jobs):
    job = submit(alice_client, conversation, run_jobs, alpha=1.5)
    assert (job.alpha, job.steering_arm) == (1.5, None)
    rate(alice_client, job, "up", run_jobs)
    assert not SteeringArm.objects.filter(owner=alice).exists()


def test_pinning_and_returning_to_learned(alice_client, conversation, run_jobs):
    response = alice_client.put(STEERING, {"mode": "pinned", "alpha": 2.0})
    assert response.status_code == 200 and (response.json()["mode"], response.json()["alpha"]) == ("pinned", 2.0)
    job = submit(alice_client, conversation, run_jobs)
    assert (job.alpha, job.steering_arm) == (2.0, None)
    response = alice_client.put(STEERING, {"mode": "learned"})
    assert (response.json()["mode"], response.json()["alpha"]) == ("learned", 3.0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "pinned"}, "alpha"),
        ({"mode": "learned", "alpha": 2.0}, "alpha"),
        ({"mode": "learned", "alpha": None}, "alpha"),
        ({"mode": "pinned", "alpha": None}, "alpha"),
        ({"mode": "sometimes"}, "mode"),
        ({"mode": "pinned", "alpha": 101}, "alpha"),
        ({"mode": "pinned", "alpha": "2"}, "alpha"),
        ({"alpha": 2.0}, "mode"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(alice_client, body, field):
    response = alice_client.put(STEERING, body)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert alice_client.get(STEERING).json()["mode"] == "learned"


def test_each_user_has_their_own(alice_client, bob_client):
    alice_client.put(STEERING, {"mode": "pinned", "alpha": 5.0})
    assert bob_client.get(STEERING).json()["mode"] == "learned"
