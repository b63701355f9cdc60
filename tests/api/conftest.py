"""Schemathesis against the app in-process (its WSGI app, the test database): two users who must never see each
other's objects, a fixed seed and bounded examples, every check schemathesis has.

Jobs run as soon as they are queued, inside the request (eager Celery; `on_commit` callbacks run at once, since
the test's transaction never commits), with the scripted engine of tests/chat: the contract under test is the
API's, not the model's, so replies, finished jobs and complete streams are all exercised in milliseconds. Waiting
is off (`GENERATION_WAIT_MAX_SECONDS=0`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from knox.models import AuthToken
from schemathesis.config import SchemathesisConfig

from tests.chat.conftest import ScriptedEngine
from tests.factories import UserFactory
from worker import engine as engine_holder

SEED = 20261201
PEERS = ("alice", "bob")
# Login, logout, logout-all and deleting one's account would end the users' own sessions mid-run; their own tests
# cover them.
EXCLUDED_PATHS = r"^/api/v1/auth/"
EXCLUDED_OPERATIONS = {"method": "DELETE", "path": "/api/v1/me/"}


def fuzz_config(*, auth_file: Path, max_examples: int, phases: list[str]) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            "generation": {"max-examples": max_examples, "database": "none", "mode": "all"},
            "phases": {name: {"enabled": name in phases} for name in ("examples", "coverage", "fuzzing", "stateful")},
            # Every check; a schema-valid request may also meet 412 (a stale If-Match: server state, not the schema).
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]
                },
            },
            "auth": {"wfc": {"path": str(auth_file), "peers": list(PEERS)}},
        }
    )


def write_auth_document(directory: Path) -> Path:
    """The two users as a Web Fuzzing Commons auth document (fixed `Authorization` headers)."""
    entries = []
    for name in PEERS:
        user = UserFactory(username=name)
        _, token = AuthToken.objects.create(user=user)
        entries.append({"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Token {token}"}]})
    path = directory / "auth.json"
    path.write_text(json.dumps({"auth": entries}))
    return path


def _run_now(func, using=None, robust=False) -> None:
    func()


@pytest.fixture
def fuzz_settings(settings, monkeypatch):
    """Jobs run when queued, no waiting; and, as Django's test client does, the request signals leave the test's
    connection (and its transaction) open."""
    from config.celery_app import app

    settings.GENERATION_WAIT_MAX_SECONDS = 0
    settings.GENERATION_STREAM_MAX_SECONDS = 0
    settings.DEBUG = False
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.GENERATION_IN_PROCESS = False
    monkeypatch.setattr(app.conf, "task_always_eager", True)
    monkeypatch.setattr(app.conf, "task_eager_propagates", True)
    engine = ScriptedEngine()
    monkeypatch.setattr(engine_holder, "get_engine", lambda: engine)
    monkeypatch.setattr(transaction, "on_commit", _run_now)
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield settings
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def load_schema(*, directory: Path, max_examples: int, phases: list[str]):
    config = fuzz_config(auth_file=write_auth_document(directory), max_examples=max_examples, phases=phases)
    return schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=config)


def without_session_enders(schema):
    """The schema (or lazy schema) without the operations that would log the fuzzing users out."""
    return schema.exclude(path_regex=EXCLUDED_PATHS).exclude(**EXCLUDED_OPERATIONS)
