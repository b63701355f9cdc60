"""Shared fixtures: three users (alice owns things, bob and charlie try to reach them) and API clients.

``auth_client(user)`` returns an APIClient authenticated with a real knox token, exactly as API clients are.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.factories import UserFactory


def pytest_configure(config: pytest.Config) -> None:
    # WhiteNoise warns when collectstatic has not run (only deployments run it; tests need no static files).
    config.addinivalue_line("filterwarnings", "ignore:No directory at:UserWarning")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Hashing with the production hasher costs about a second per user on a small machine."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _stop_in_process_runner():
    """A test that ran jobs in-process (the embedded mode) stops its sweep and pools before its database goes."""
    yield
    from worker.in_process import runner

    if runner.started:
        runner.shutdown()


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


@pytest.fixture
def charlie(db):
    return UserFactory(username="charlie")


@pytest.fixture
def staff_user(db):
    return UserFactory(username="staff", is_staff=True, is_superuser=True)


@pytest.fixture
def api_client() -> APIClient:
    """An unauthenticated client."""
    return APIClient()


@pytest.fixture
def auth_client(db) -> Callable[..., APIClient]:
    """``auth_client(user)`` -> an APIClient sending ``Authorization: Token <knox token>`` for ``user``."""

    def make(user) -> APIClient:
        _, token = AuthToken.objects.create(user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        client.token = token
        return client

    return make


@pytest.fixture
def alice_client(alice, auth_client) -> APIClient:
    return auth_client(alice)


@pytest.fixture
def bob_client(bob, auth_client) -> APIClient:
    return auth_client(bob)


@pytest.fixture
def charlie_client(charlie, auth_client) -> APIClient:
    return auth_client(charlie)
