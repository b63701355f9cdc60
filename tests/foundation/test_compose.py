"""docker-compose.yml, Dockerfile and .env.example: valid compose and the production shape the docs promise.

Docker is not available to the tests, so the file is checked with PyYAML (which resolves the anchors and
merge keys as compose does) against a JSON schema for the part of the Compose Specification this file uses,
written from the spec (https://github.com/compose-spec/compose-spec, schema/compose-spec.json): unknown keys
fail, as they do in `docker compose config`.
"""

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

STRING_LIST = {"type": "array", "items": {"type": "string"}}
DURATION = {"type": "string", "pattern": r"^(\d+(ns|us|ms|s|m|h))+$"}
COMMAND = {"oneOf": [{"type": "string"}, STRING_LIST]}

HEALTHCHECK = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "test": {"oneOf": [{"type": "string"}, {**STRING_LIST, "minItems": 2}]},
        "interval": DURATION,
        "timeout": DURATION,
        "start_period": DURATION,
        "start_interval": DURATION,
        "retries": {"type": "integer", "minimum": 0},
        "disable": {"type": "boolean"},
    },
}
DEPENDS_ON = {
    "oneOf": [
        STRING_LIST,
        {
            "type": "object",
            "patternProperties": {
                "^[a-zA-Z0-9._-]+$": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["condition"],
                    "properties": {
                        "condition": {"enum": ["service_started", "service_healthy", "service_completed_successfully"]},
                        "restart": {"type": "boolean"},
                        "required": {"type": "boolean"},
                    },
                }
            },
            "additionalProperties": False,
        },
    ]
}
DEVICE_RESERVATION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["capabilities"],
    "properties": {
        "capabilities": STRING_LIST,
        "count": {"type": ["string", "integer"]},
        "device_ids": STRING_LIST,
        "driver": {"type": "string"},
        "options": {"type": "object"},
    },
}
DEPLOY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "resources": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "limits": {"type": "object"},
                "reservations": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "cpus": {"type": ["number", "string"]},
                        "memory": {"type": "string"},
                        "devices": {"type": "array", "items": DEVICE_RESERVATION},
                    },
                },
            },
        }
    },
}
SERVICE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "image": {"type": "string"},
        "build": {"oneOf": [{"type": "string"}, {"type": "object"}]},
        "command": COMMAND,
        "entrypoint": COMMAND,
        "env_file": {"oneOf": [{"type": "string"}, STRING_LIST]},
        "environment": {"oneOf": [{"type": "object"}, STRING_LIST]},
        "restart": {"enum": ["no", "always", "on-failure", "unless-stopped"]},
        "depends_on": DEPENDS_ON,
        "volumes": STRING_LIST,
        "ports": STRING_LIST,
        "healthcheck": HEALTHCHECK,
        "deploy": DEPLOY,
    },
}
COMPOSE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "patternProperties": {"^x-": {}},
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
        "services": {
            "type": "object",
            "patternProperties": {"^[a-zA-Z0-9._-]+$": SERVICE},
            "additionalProperties": False,
        },
        "volumes": {
            "type": "object",
            "patternProperties": {"^[a-zA-Z0-9._-]+$": {"type": ["object", "null"]}},
            "additionalProperties": False,
        },
    },
    "required": ["services"],
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _command(service: dict) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def test_compose_matches_the_schema(compose):
    jsonschema.validate(compose, COMPOSE_SCHEMA)


def test_schema_rejects_a_misspelt_key(compose):
    broken = {**compose, "services": {**compose["services"], "web": {**compose["services"]["web"], "helthcheck": {}}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, COMPOSE_SCHEMA)


def test_services_and_references(compose):
    services = compose["services"]
    assert {"db", "redis", "web", "worker", "beat"} <= set(services)
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert set(depends) <= set(services), f"{name} depends on an unknown service"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"
        if "build" in service:
            assert service["env_file"] == ".env"


def test_database_and_redis(compose):
    db, redis = compose["services"]["db"], compose["services"]["redis"]
    assert db["image"].startswith("postgres:16")
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in db["volumes"])
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert "ping" in redis["healthcheck"]["test"]


def test_web_migrates_then_serves_and_is_health_checked(compose):
    web = compose["services"]["web"]
    command = _command(web)
    assert command.index("migrate") < command.index("gunicorn -c config/gunicorn.py config.asgi:application")
    assert "/readyz" in " ".join(web["healthcheck"]["test"])
    assert web["depends_on"]["db"]["condition"] == "service_healthy"


def test_worker_has_the_gpu_and_the_generation_queue(compose):
    worker = compose["services"]["worker"]
    assert _command(worker) == "celery -A config.celery_app worker -Q generation -l info --concurrency 1"
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert worker["depends_on"]["web"]["condition"] == "service_healthy"


def test_callbacks_worker_loads_no_model(compose):
    callbacks = compose["services"]["callbacks"]
    assert "-Q callbacks" in _command(callbacks)
    assert callbacks["environment"]["GENERATION_PRELOAD_ENGINE"] == "0"


def test_beat(compose):
    assert _command(compose["services"]["beat"]).startswith("celery -A config.celery_app beat -l info")


def test_celery_app_module_exists():
    assert (ROOT / "config" / "celery_app.py").is_file()


def test_dockerfile_installs_the_requirements_and_serves_asgi():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)
    assert "pip install -r requirements.txt" in dockerfile
    assert "collectstatic" in dockerfile
    assert '"config.asgi:application"' in dockerfile


def test_env_example_documents_every_setting():
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', (ROOT / "config" / "settings.py").read_text()))
    assert read, "no env() reads found in settings.py"
    assert read <= documented, f"not in .env.example: {sorted(read - documented)}"
