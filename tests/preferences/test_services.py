"""Service rules: versions, the active limit (also under concurrency), and the generation selector."""

import pytest
from django.core.exceptions import ValidationError

from core.exceptions import LimitExceeded, PreconditionFailed
from preferences.models import Principle, PrincipleVersion
from preferences.selectors import principle_versions_for_generation
from preferences.services import (
    principle_activate,
    principle_create,
    principle_deactivate,
    principle_update,
    principle_version_restore,
)
from tests.concurrency import run_at_once
from tests.factories import PrincipleFactory, UserFactory

LIST = "/api/v1/principles/"


def test_every_change_appends_an_immutable_version(alice):
    principle = principle_create(owner=alice, text="One.")
    principle = principle_update(principle=principle, actor=alice, text="Two.", weight=2.0)
    principle = principle_deactivate(principle=principle, actor=alice)
    principle = principle_version_restore(principle=principle, number=1, actor=alice)
    principle = principle_activate(principle=principle, actor=alice)
    rows = list(PrincipleVersion.objects.filter(principle=principle).values_list("number", "text", "weight", "active"))
    assert rows == [
        (1, "One.", 1.0, True),
        (2, "Two.", 2.0, True),
        (3, "Two.", 2.0, False),
        (4, "One.", 1.0, False),
        (5, "One.", 1.0, True),
    ]
    assert principle.version == 5


def test_services_validate_like_the_api(alice):
    with pytest.raises(ValidationError) as error:
        principle_create(owner=alice, text="   ")
    assert "text" in error.value.message_dict
    with pytest.raises(ValidationError):
        principle_create(owner=alice, text="ok", weight=7.0)
    assert not Principle.objects.exists()


def test_stale_if_match_in_service(alice):
    principle = principle_create(owner=alice, text="One.")
    stale = principle.etag
    principle_update(principle=principle, actor=alice, text="Two.")
    with pytest.raises(PreconditionFailed):
        principle_update(principle=principle, actor=alice, text="Three.", if_match=[stale])
    assert Principle.objects.get().text == "Two."


def test_active_limit_via_api(settings, alice, alice_client, stored_state):
    settings.MAX_ACTIVE_PRINCIPLES_PER_USER = 2
    PrincipleFactory(owner=alice)
    PrincipleFactory(owner=alice)
    inactive = PrincipleFactory(owner=alice, active=False)
    before = stored_state()
    for response in [
        alice_client.post(LIST, {"text": "third"}, format="json"),
        alice_client.patch(f"{LIST}{inactive.pk}/", {"active": True}, format="json"),
    ]:
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "active_principle_limit"
        assert "2 active principles" in error["message"]
        assert list(error["fields"]) == ["active"]
    assert stored_state() == before
    # Inactive principles do not count, and another user's principles do not count.
    assert alice_client.post(LIST, {"text": "kept for later", "active": False}, format="json").status_code == 201
    PrincipleFactory(owner=UserFactory(username="dora"))


def test_active_limit_holds_under_concurrent_creates(settings, transactional_db):
    """Owner-row locking serialises the count check: two racing creates cannot both take the last slot."""
    settings.MAX_ACTIVE_PRINCIPLES_PER_USER = 1
    owner = UserFactory(username="racer")
    outcomes = run_at_once(lambda index: principle_create(owner=owner, text=f"racer {index}"), 4)
    refused = [outcome for outcome in outcomes if isinstance(outcome, LimitExceeded)]
    created = [outcome for outcome in outcomes if isinstance(outcome, Principle)]
    assert (len(created), len(refused)) == (1, 3), outcomes
    assert Principle.objects.filter(owner=owner, active=True).count() == 1


def test_principle_versions_for_generation(alice, bob):
    second = PrincipleFactory(owner=alice, text="second", position=5, weight=2.0)
    first = PrincipleFactory(owner=alice, text="first", position=1)
    PrincipleFactory(owner=alice, text="inactive", position=0, active=False)
    PrincipleFactory(owner=bob, text="bob's")
    first = principle_update(principle=first, actor=alice, text="first, edited")

    versions = principle_versions_for_generation(user=alice)
    assert [(v.principle_id, v.number, v.text, v.weight) for v in versions] == [
        (first.pk, 2, "first, edited", 1.0),
        (second.pk, 1, "second", 2.0),
    ]
    assert principle_versions_for_generation(user=UserFactory(username="nobody")) == []
