"""The admin: staff only; principles edited through services (versions recorded); history read-only."""

import pytest
from django.test import Client

from preferences.models import Principle, PrincipleVersion
from tests.factories import DEFAULT_PASSWORD, PrincipleFactory, UserFactory


@pytest.fixture
def staff_client(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.mark.parametrize("path", ["/admin/", "/admin/preferences/principle/", "/admin/auth/user/"])
def test_non_staff_cannot_enter(path, alice, alice_principle_for_admin):
    client = Client()
    client.force_login(alice)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert Client().get(path).status_code == 302


def test_non_staff_cannot_log_in(alice):
    client = Client()
    response = client.post("/admin/login/", {"username": "alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == 200  # the login form again, with an error
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


@pytest.fixture
def alice_principle_for_admin(alice):
    return PrincipleFactory(owner=alice, text="Reply in French.", title="Language")


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/preferences/principle/",
        "/admin/preferences/principle/?q=French&active__exact=1",
        "/admin/preferences/principleversion/",
        "/admin/auth/user/",
        "/admin/auth/user/?q=alice",
    ],
)
def test_staff_pages_render(path, staff_client, alice_principle_for_admin):
    response = staff_client.get(path)
    assert response.status_code == 200


def test_user_page_shows_principles_inline(staff_client, alice, alice_principle_for_admin):
    response = staff_client.get(f"/admin/auth/user/{alice.pk}/change/")
    assert response.status_code == 200
    assert "Reply in French." in response.content.decode()


def test_principle_page_shows_version_history(staff_client, alice_principle_for_admin):
    response = staff_client.get(f"/admin/preferences/principle/{alice_principle_for_admin.pk}/change/")
    assert response.status_code == 200
    assert "Reply in French." in response.content.decode()


def test_editing_in_admin_records_a_version(staff_client, staff_user, alice_principle_for_admin):
    principle = alice_principle_for_admin
    response = staff_client.post(
        f"/admin/preferences/principle/{principle.pk}/change/",
        {
            "title": "Language",
            "text": "  Reply in Spanish.  ",
            "weight": "2.0",
            "active": "on",
            "position": "0",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    latest = PrincipleVersion.objects.filter(principle=principle).order_by("-number").first()
    assert (latest.number, latest.text, latest.weight, latest.created_by) == (2, "Reply in Spanish.", 2.0, staff_user)


def test_adding_in_admin_creates_version_one(staff_client, alice):
    response = staff_client.post(
        "/admin/preferences/principle/add/",
        {
            "owner": alice.pk,
            "title": "",
            "text": "Be brief.",
            "weight": "1.0",
            "active": "on",
            "position": "3",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    principle = Principle.objects.get(owner=alice, text="Be brief.")
    assert list(principle.versions.values_list("number", flat=True)) == [1]


def test_admin_form_reports_active_limit(settings, staff_client, alice, alice_principle_for_admin):
    settings.MAX_ACTIVE_PRINCIPLES_PER_USER = 1
    response = staff_client.post(
        "/admin/preferences/principle/add/",
        {
            "owner": alice.pk,
            "text": "One too many.",
            "weight": "1.0",
            "active": "on",
            "position": "1",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "1 active principles, the limit" in response.content.decode()
    assert Principle.objects.filter(owner=alice).count() == 1


def test_bulk_deactivate_and_activate_record_versions(settings, staff_client, alice):
    settings.MAX_ACTIVE_PRINCIPLES_PER_USER = 2
    first = PrincipleFactory(owner=alice)
    second = PrincipleFactory(owner=alice)
    third = PrincipleFactory(owner=alice, active=False)
    changelist = "/admin/preferences/principle/"
    staff_client.post(changelist, {"action": "deactivate_principles", "_selected_action": [first.pk, second.pk]})
    assert not Principle.objects.filter(active=True).exists()
    assert first.versions.order_by("-number").first().active is False

    response = staff_client.post(
        changelist,
        {"action": "activate_principles", "_selected_action": [first.pk, second.pk, third.pk]},
        follow=True,
    )
    assert Principle.objects.filter(owner=alice, active=True).count() == 2  # the limit refused the third
    assert "Refused" in response.content.decode()


def test_versions_cannot_be_changed_or_deleted(staff_client, alice_principle_for_admin):
    version = alice_principle_for_admin.versions.get()
    assert staff_client.get("/admin/preferences/principleversion/add/").status_code == 403
    delete_version = f"/admin/preferences/principleversion/{version.pk}/delete/"
    assert staff_client.post(delete_version, {"post": "yes"}).status_code == 403
    assert PrincipleVersion.objects.filter(pk=version.pk).exists()
    assert (
        staff_client.post(
            f"/admin/preferences/principle/{alice_principle_for_admin.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert Principle.objects.filter(pk=alice_principle_for_admin.pk).exists()


def test_staff_without_superuser_needs_permissions(alice_principle_for_admin):
    helper = UserFactory(username="helper", is_staff=True)
    client = Client()
    client.force_login(helper)
    assert client.get("/admin/preferences/principle/").status_code == 403
