"""The OpenAPI schema: generated without warnings, valid, every operation documents its errors."""

import io
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.management.commands.spectacular import SchemaGenerationError


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker) -> dict:
    target: Path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--file", str(target), stderr=io.StringIO())
    return yaml.safe_load(target.read_text())


def test_schema_generation_has_no_warnings_and_validates(tmp_path, db, capsys):
    """``spectacular --fail-on-warn --validate`` raises on any warning or error, or an invalid OpenAPI document."""
    try:
        call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "s.yaml"))
    except SchemaGenerationError:
        pytest.fail("schema generation warned:\n" + capsys.readouterr().err)


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def test_schema_covers_the_foundation_endpoints(schema):
    paths = set(schema["paths"])
    assert {
        "/api/v1/auth/login/",
        "/api/v1/auth/logout/",
        "/api/v1/auth/logoutall/",
        "/api/v1/principles/",
        "/api/v1/principles/{principle_id}/",
        "/api/v1/principles/{principle_id}/versions/",
        "/api/v1/principles/{principle_id}/versions/{number}/",
        "/api/v1/principles/{principle_id}/versions/{number}/restore/",
    } <= paths


def test_every_operation_documents_its_errors_with_the_shared_body(schema):
    problems = []
    for path, method, operation in _operations(schema):
        name = f"{method.upper()} {path}"
        errors = {code: response for code, response in operation["responses"].items() if code.startswith("4")}
        if not errors:
            problems.append(f"{name}: no error response documented")
        for code, response in errors.items():
            content = response.get("content", {}).get("application/json", {})
            if content.get("schema", {}).get("$ref") != "#/components/schemas/Error":
                problems.append(f"{name} {code}: not the shared Error body")
        if operation.get("security", [{}]) != [{}] and "401" not in errors:
            problems.append(f"{name}: requires auth but does not document 401")
    assert not problems, "\n".join(problems)


def test_error_body_schema(schema):
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message", "fields"}


def test_conditional_writes_document_if_match_and_412(schema):
    detail = schema["paths"]["/api/v1/principles/{principle_id}/"]
    for method in ["put", "patch", "delete"]:
        names = {parameter["name"] for parameter in detail[method]["parameters"]}
        assert "If-Match" in names
        assert "412" in detail[method]["responses"]


def test_schema_and_docs_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


SNAPSHOT = Path(__file__).with_name("openapi_schema.yaml")


def test_schema_is_the_committed_snapshot(schema):
    """The API contract changes only on purpose: regenerate the snapshot with
    `.venv/bin/python manage.py spectacular --file tests/foundation/openapi_schema.yaml` and commit the diff with the
    change that made it (it was first made before the redesign moved the code, which left it unchanged)."""
    committed = yaml.safe_load(SNAPSHOT.read_text())
    if schema != committed:
        changed = sorted(set(schema["paths"]) ^ set(committed["paths"])) or [
            path for path in schema["paths"] if schema["paths"][path] != committed["paths"].get(path)
        ]
        components = [
            name
            for name in set(schema["components"]["schemas"]) | set(committed["components"]["schemas"])
            if schema["components"]["schemas"].get(name) != committed["components"]["schemas"].get(name)
        ]
        pytest.fail(f"the schema differs from {SNAPSHOT.name}: paths {changed[:10]}, components {components[:10]}")
