"""The principle token budget holds at every write of the API (create, update, activate, restore), and a write
that lowers the total is always allowed."""

import pytest

pytestmark = pytest.mark.django_db
LIST = "/api/v1/principles/"


@pytest.fixture(autouse=True)
def small_budget(settings):
    settings.PRINCIPLE_TOKEN_BUDGET = 100


def test_create_update_activate_and_restore_are_checked(alice_client):
    first = alice_client.post(LIST, {"text": "x" * 240}).json()  # 83 tokens
    refused = alice_client.post(LIST, {"text": "y" * 60})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "principle_token_budget"
    small = alice_client.post(LIST, {"text": "y" * 30})
    assert small.status_code == 201  # 96 in all: fits
    url = f"{LIST}{small.json()['id']}/"
    assert alice_client.patch(url, {"text": "y" * 60}).status_code == 409
    inactive = alice_client.post(LIST, {"text": "z" * 300, "active": False})
    assert inactive.status_code == 201  # inactive: it takes no room
    assert alice_client.patch(f"{LIST}{inactive.json()['id']}/", {"active": True}).status_code == 409
    alice_client.patch(url, {"text": "short"})
    assert alice_client.post(f"{url}versions/1/restore/").status_code == 200  # back to 96: fits
    alice_client.patch(f"{LIST}{first['id']}/", {"text": "a"})
    alice_client.patch(url, {"text": "y" * 200})
    alice_client.patch(f"{LIST}{first['id']}/", {"text": "x" * 240})
    assert alice_client.get(f"{LIST}{first['id']}/").json()["text"] == "a"  # that write was refused
    assert alice_client.post(f"{LIST}{first['id']}/versions/1/restore/").status_code == 409


def test_lowering_the_total_is_allowed_over_the_budget(alice_client, settings):
    big = alice_client.post(LIST, {"text": "x" * 240}).json()
    settings.PRINCIPLE_TOKEN_BUDGET = 10  # the budget was lowered under the user
    url = f"{LIST}{big['id']}/"
    assert alice_client.patch(url, {"text": "x" * 120}).status_code == 200
    assert alice_client.patch(url, {"weight": 0}).status_code == 200
    assert alice_client.delete(url).status_code == 200
