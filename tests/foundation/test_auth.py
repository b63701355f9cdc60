"""Token login/logout (knox), the login throttle, and the createuser / issue_token commands."""

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from knox.models import AuthToken
from rest_framework.test import APIClient

from core.auth import LoginThrottle
from tests.factories import DEFAULT_PASSWORD, UserFactory

LOGIN = "/api/v1/auth/login/"


def _clear_login_throttle() -> None:
    if hasattr(cache, "delete_pattern"):  # django-redis
        cache.delete_pattern("throttle_login_*")
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def fresh_login_throttle():
    """Every test client is 127.0.0.1: start and leave each test with no login attempts counted."""
    _clear_login_throttle()
    yield
    _clear_login_throttle()


def _client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_login_returns_a_working_token(alice, api_client):
    response = api_client.post(LOGIN, {"username": "alice", "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 200, response.json()
    token = response.json()["token"]
    assert response.json()["username"] == "alice"
    assert _client_with(token).get("/api/v1/principles/").status_code == 200
    stored = AuthToken.objects.get(user=alice)
    assert token not in (stored.digest, stored.token_key)  # only a digest is stored


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"username": "alice", "password": "wrong"}, 401, "invalid_credentials"),
        ({"username": "nobody", "password": DEFAULT_PASSWORD}, 401, "invalid_credentials"),
        ({"username": "alice"}, 400, "validation_error"),
        ({"username": "alice", "password": DEFAULT_PASSWORD, "remember": True}, 400, "validation_error"),
        ({"username": 1, "password": DEFAULT_PASSWORD}, 400, "validation_error"),
    ],
)
def test_login_failures(body, status, code, alice, api_client):
    response = api_client.post(LOGIN, body, format="json")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not AuthToken.objects.exists()


def test_disabled_user_cannot_log_in(db, api_client):
    UserFactory(username="gone", is_active=False)
    response = api_client.post(LOGIN, {"username": "gone", "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 401


def test_logout_revokes_only_that_token(alice, auth_client):
    laptop, phone = auth_client(alice), auth_client(alice)
    assert laptop.post("/api/v1/auth/logout/").status_code == 204
    response = laptop.get("/api/v1/principles/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert phone.get("/api/v1/principles/").status_code == 200


def test_logoutall_revokes_every_token_of_the_user(alice, bob, auth_client):
    laptop, phone, bobs = auth_client(alice), auth_client(alice), auth_client(bob)
    assert laptop.post("/api/v1/auth/logoutall/").status_code == 204
    assert phone.get("/api/v1/principles/").status_code == 401
    assert bobs.get("/api/v1/principles/").status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/auth/logout/", "/api/v1/auth/logoutall/"])
def test_logout_requires_a_token(path, api_client):
    response = api_client.post(path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_createuser_prints_a_working_token(db, capsys):
    call_command("createuser", "erin", "--email", "erin@example.com")
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.strip().splitlines())
    assert lines["username"] == "erin"
    assert len(lines["password"]) >= 20
    assert _client_with(lines["token"]).get("/api/v1/principles/").status_code == 200
    login = APIClient().post(LOGIN, {"username": "erin", "password": lines["password"]}, format="json")
    assert login.status_code == 200


def test_createuser_with_password_staff_and_token_only(db, capsys):
    call_command("createuser", "sam", "--password", "a-long-unusual-passphrase", "--staff", "--token-only")
    token = capsys.readouterr().out.strip()
    assert " " not in token and len(token) > 20
    from django.contrib.auth import get_user_model

    sam = get_user_model().objects.get(username="sam")
    assert sam.is_staff and sam.check_password("a-long-unusual-passphrase")


def test_createuser_refuses_existing_user_unless_exists_ok(alice, capsys):
    with pytest.raises(CommandError, match="already exists"):
        call_command("createuser", "alice")
    call_command("createuser", "alice", "--exists-ok", "--token-only")
    assert _client_with(capsys.readouterr().out.strip()).get("/api/v1/principles/").status_code == 200


@pytest.mark.parametrize("args", [["weak", "--password", "123"], ["bad name!"], [" "]])
def test_createuser_rejects_bad_input(db, args):
    from django.contrib.auth import get_user_model

    with pytest.raises(CommandError):
        call_command("createuser", *args)
    assert not get_user_model().objects.exists()


def test_issue_token(alice, capsys):
    call_command("issue_token", "alice")
    assert _client_with(capsys.readouterr().out.strip()).get("/api/v1/principles/").status_code == 200
    with pytest.raises(CommandError):
        call_command("issue_token", "nobody")


def test_login_rate_comes_from_settings(settings):
    assert LoginThrottle.THROTTLE_RATES["login"] == settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"]


@pytest.fixture
def login_rate_3_per_minute(monkeypatch):
    monkeypatch.setattr(LoginThrottle, "THROTTLE_RATES", {"login": "3/min"})


def test_login_attempts_are_throttled(alice, api_client, login_rate_3_per_minute):
    wrong = {"username": "alice", "password": "guess"}
    assert [api_client.post(LOGIN, wrong, format="json").status_code for _ in range(3)] == [401, 401, 401]
    response = api_client.post(LOGIN, {"username": "alice", "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert set(response.json()["error"]) == {"code", "message", "fields"}
    assert 0 < int(response["Retry-After"]) <= 60
    assert not AuthToken.objects.exists()  # the right password did not get through either


def test_login_throttle_is_per_client_address_and_ignores_forwarded_for(alice, api_client, login_rate_3_per_minute):
    wrong = {"username": "alice", "password": "guess"}
    for number in range(3):
        api_client.post(LOGIN, wrong, format="json", HTTP_X_FORWARDED_FOR=f"203.0.113.{number}")
    spoofed = api_client.post(LOGIN, wrong, format="json", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert spoofed.status_code == 429
    other_address = api_client.post(LOGIN, wrong, format="json", REMOTE_ADDR="198.51.100.7")
    assert other_address.status_code == 401
