"""The embedded mode (a SQLite file, no DATABASE_URL) holds concurrent clients: writers that race for the one
write lock wait for it (WAL, busy timeout, IMMEDIATE transactions) instead of answering 500 "database is locked".

Runs in a fresh interpreter on the real settings with a SQLite file of its own: 8 threads, each its own client,
create and edit principles through the API at the same time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 8
WRITES_PER_CLIENT = 6

SCRIPT = """
import json, sys, threading
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from knox.models import AuthToken
from django.contrib.auth import get_user_model

call_command("migrate", verbosity=0)
clients, writes = int(sys.argv[1]), int(sys.argv[2])
statuses, start = [], threading.Barrier(clients)


def run(index):
    user = get_user_model().objects.create(username=f"user{index}")
    _, token = AuthToken.objects.create(user=user)
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    start.wait()
    for number in range(writes):
        created = client.post("/api/v1/principles/", {"text": f"Principle {number}."}, content_type="application/json")
        statuses.append(created.status_code)
        if created.status_code == 201:
            changed = client.patch(f"/api/v1/principles/{created.json()['id']}/", {"weight": 2.0},
                                   content_type="application/json")
            statuses.append(changed.status_code)


threads = [threading.Thread(target=run, args=(index,)) for index in range(clients)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(statuses))
"""


@pytest.mark.slow
def test_concurrent_writers_never_meet_database_is_locked(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DB_POOL_MAX_SIZE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY="embedded-test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        LOG_LEVEL="ERROR",
        ALLOWED_HOSTS="testserver",
        SQLITE_BUSY_TIMEOUT_SECONDS="30",
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(CLIENTS), str(WRITES_PER_CLIENT)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    statuses = json.loads(result.stdout.strip().splitlines()[-1])
    assert statuses.count(201) == CLIENTS * WRITES_PER_CLIENT
    assert statuses.count(200) == CLIENTS * WRITES_PER_CLIENT
    assert "database is locked" not in result.stderr
