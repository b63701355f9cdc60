"""Settings come from the environment with production-safe defaults (checked in fresh interpreters)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "db = settings.DATABASES['default']; "
    "print(json.dumps({'debug': settings.DEBUG, 'engine': db['ENGINE'], 'name': str(db['NAME']), "
    "'secure_cookies': settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE, "
    "'hosts': settings.ALLOWED_HOSTS, 'limit': settings.DATA_UPLOAD_MAX_MEMORY_SIZE, "
    "'options': db.get('OPTIONS', {}), 'conn_max_age': db.get('CONN_MAX_AGE', 0)}))"
)


def _settings(**env: str) -> subprocess.CompletedProcess:
    ignored = {"DATABASE_URL", "DEBUG", "SECRET_KEY", "DB_POOL_MAX_SIZE", "DB_CONN_MAX_AGE", "DB_PREPARE_THRESHOLD"}
    clean = {key: value for key, value in os.environ.items() if key not in ignored}
    clean.update(DJANGO_SETTINGS_MODULE="config.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_secret_key_is_required_when_debug_is_off():
    result = _settings()
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_the_env_example_placeholder_secret_key_is_refused_when_debug_is_off():
    result = _settings(SECRET_KEY="change-me-to-a-long-random-string")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_defaults():
    result = _settings(
        SECRET_KEY="s",
        DATABASE_URL="postgres://u:p@db:5432/principled",
        ALLOWED_HOSTS="assistant.example.com",
        SERVED_OVER_HTTPS="1",
        MAX_REQUEST_BODY_BYTES="1234",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values.pop("options") == {
        "pool": {"min_size": 2, "max_size": 4, "timeout": 10.0},
        "server_side_binding": True,
        "prepare_threshold": 5,
    }
    assert values.pop("conn_max_age") == 0
    assert values == {
        "debug": False,
        "engine": "core.postgresql",
        "name": "principled",
        "secure_cookies": True,
        "hosts": ["assistant.example.com"],
        "limit": 1234,
    }


def test_prepared_statements_can_be_turned_off():
    result = _settings(SECRET_KEY="s", DATABASE_URL="postgres://u:p@db:5432/principled", DB_PREPARE_THRESHOLD="0")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "core.postgresql"
    assert "server_side_binding" not in values["options"] and "prepare_threshold" not in values["options"]


def test_sqlite_file_when_database_url_is_unset():
    result = _settings(DEBUG="1")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"].endswith("db.sqlite3")
    assert values["secure_cookies"] is False


def test_the_pool_can_be_turned_off_for_persistent_connections():
    result = _settings(
        SECRET_KEY="s", DATABASE_URL="postgres://u:p@db:5432/principled", DB_POOL_MAX_SIZE="0", DB_CONN_MAX_AGE="60"
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert "pool" not in values["options"] and values["conn_max_age"] == 60


def test_embedded_sqlite_waits_for_the_lock_in_wal_mode():
    values = json.loads(_settings(DEBUG="1").stdout)
    assert values["options"]["transaction_mode"] == "IMMEDIATE"
    assert values["options"]["timeout"] >= 10
    assert "journal_mode=WAL" in values["options"]["init_command"]
