"""An exhausted database pool (every connection of the process busy past DB_POOL_TIMEOUT_SECONDS) is a 503 with
Retry-After in the one error body, not a 500: the request may simply be retried. Other database errors stay 500."""

from __future__ import annotations

import pytest
from django.db import connection
from psycopg_pool import ConnectionPool, PoolTimeout

from core.authentication import TokenAuthentication
from core.exception_handler import POOL_EXHAUSTED_RETRY_AFTER_SECONDS

pytestmark = pytest.mark.django_db


def pool_timeout() -> PoolTimeout:
    """A real PoolTimeout: a pool of one connection, held, asked for another."""
    params = connection.get_connection_params()
    with ConnectionPool(kwargs=params, min_size=0, max_size=1, timeout=0.05, open=True) as pool:
        held = pool.getconn()
        try:
            pool.getconn()
        except PoolTimeout as exc:
            return exc
        finally:
            pool.putconn(held)
    raise AssertionError("the pool handed out a second connection")


@pytest.fixture
def failing_database(monkeypatch):
    """Make the request's first database access (the token lookup) fail with `error`, wrapped as Django wraps
    the driver's errors (its OperationalError, caused by the driver's)."""

    def fail_with(error: Exception) -> None:
        def authenticate_credentials(self, token):
            with connection.wrap_database_errors:
                raise error

        monkeypatch.setattr(TokenAuthentication, "authenticate_credentials", authenticate_credentials)

    return fail_with


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/jobs/"), ("post", "/api/v1/principles/"), ("post", "/v1/chat/completions")],
)
def test_an_exhausted_pool_is_a_503_with_retry_after(alice_client, failing_database, method, path):
    failing_database(pool_timeout())
    response = getattr(alice_client, method)(path, {} if method == "post" else None)
    assert response.status_code == 503
    assert response["Retry-After"] == str(POOL_EXHAUSTED_RETRY_AFTER_SECONDS)
    assert response.json()["error"]["code"] == "service_unavailable"


def test_other_database_errors_stay_server_errors(alice_client, failing_database):
    import psycopg

    failing_database(psycopg.OperationalError("server closed the connection unexpectedly"))
    alice_client.raise_request_exception = False
    response = alice_client.get("/api/v1/jobs/")
    assert response.status_code == 500 and response.json()["error"]["code"] == "server_error"
