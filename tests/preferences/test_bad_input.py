"""Each class of bad input gets its documented 4xx JSON error, and nothing stored changes."""

import json

import pytest

from tests.preferences.conftest import url

LIST = "/api/v1/principles/"


def _assert_error(response, status, code, fields=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    if fields is not None:
        assert sorted(error["fields"]) == sorted(fields)


BAD_BODIES = [
    pytest.param({"text": ""}, ["text"], id="empty text"),
    pytest.param({"text": "   \n\t "}, ["text"], id="blank text"),
    pytest.param({"text": "x" * 2001}, ["text"], id="text too long"),
    pytest.param({"text": "a\x00b"}, ["text"], id="NUL in text"),
    pytest.param({"text": "\ud800"}, ["text"], id="lone surrogate"),
    pytest.param({"text": 42}, ["text"], id="text not a string"),
    pytest.param({"text": None}, ["text"], id="text null"),
    pytest.param({"text": ["a"]}, ["text"], id="text a list"),
    pytest.param({"text": "ok", "weight": 5.01}, ["weight"], id="weight above 5"),
    pytest.param({"text": "ok", "weight": -0.1}, ["weight"], id="weight below 0"),
    pytest.param({"text": "ok", "weight": "2"}, ["weight"], id="weight a string"),
    pytest.param({"text": "ok", "weight": True}, ["weight"], id="weight a boolean"),
    pytest.param('{"text": "ok", "weight": 1e400}', ["weight"], id="weight overflows to infinity"),
    pytest.param({"text": "ok", "active": "yes"}, ["active"], id="active a string"),
    pytest.param({"text": "ok", "active": 1}, ["active"], id="active a number"),
    pytest.param({"text": "ok", "position": -1}, ["position"], id="negative position"),
    pytest.param({"text": "ok", "position": 1.5}, ["position"], id="fractional position"),
    pytest.param({"text": "ok", "position": 10**30}, ["position"], id="huge position"),
    pytest.param({"text": "ok", "title": "t" * 201}, ["title"], id="title too long"),
    pytest.param({"text": "ok", "colour": "red", "owner": 2}, ["colour", "owner"], id="unknown fields"),
    pytest.param({"text": "ok", "id": 5, "version": 9}, ["id", "version"], id="read-only fields"),
    pytest.param(["text"], ["non_field_errors"], id="a list instead of an object"),
    pytest.param('"text"', ["non_field_errors"], id="a string instead of an object"),
    pytest.param("null", ["non_field_errors"], id="null instead of an object"),
]


@pytest.mark.parametrize(("body", "fields"), BAD_BODIES)
@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_invalid_bodies_are_400_naming_the_field(method, body, fields, alice_client, alice_principle, stored_state):
    before = stored_state()
    path = LIST if method == "post" else url(alice_principle.pk)
    raw = body if isinstance(body, str) else json.dumps(body)  # a str is raw JSON text
    response = getattr(alice_client, method)(path, raw, content_type="application/json")
    _assert_error(response, 400, "validation_error", fields)
    assert stored_state() == before


@pytest.mark.parametrize(
    "raw",
    [
        '{"text": "unterminated',
        "{'text': 'single quotes'}",
        '{"text": NaN}',
        '{"weight": Infinity}',
        "\xff\xfe",
        "[" * 100_000 + "]" * 100_000,
    ],
)
@pytest.mark.parametrize("method", ["post", "patch"])
def test_malformed_json_is_400(method, raw, alice_client, alice_principle, stored_state):
    before = stored_state()
    path = LIST if method == "post" else url(alice_principle.pk)
    response = getattr(alice_client, method)(path, raw.encode("latin-1"), content_type="application/json")
    _assert_error(response, 400, "malformed_request", [])
    assert stored_state() == before


def test_non_json_content_type_is_415(alice_client, stored_state):
    before = stored_state()
    response = alice_client.post(LIST, "text=hello", content_type="application/x-www-form-urlencoded")
    _assert_error(response, 415, "unsupported_media_type", [])
    assert stored_state() == before


def test_oversized_body_is_413(settings, alice_client, alice_principle, stored_state):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    before = stored_state()
    for response in [
        alice_client.post(LIST, {"text": "x" * 1500}, format="json"),
        alice_client.patch(url(alice_principle.pk), {"text": "x" * 1500}, format="json"),
    ]:
        _assert_error(response, 413, "request_too_large", [])
    assert stored_state() == before
    assert alice_client.post(LIST, {"text": "x" * 500}, format="json").status_code == 201


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/principles/abc/",
        "/api/v1/principles/-1/",
        "/api/v1/principles/1.5/",
        "/api/v1/principles/99999999999999999999999/",
        "/api/v1/principles/9223372036854775808/versions/",
        "/api/v1/principles/1/versions/x/restore/",
        "/api/v1/principles/%00/",
    ],
)
def test_bad_ids_are_json_404(path, alice_client, alice_principle):
    response = alice_client.get(path)
    _assert_error(response, 404, "not_found", [])


def test_largest_valid_id_is_a_plain_404(alice_client):
    _assert_error(alice_client.get("/api/v1/principles/999999999999999999/"), 404, "not_found", [])


def test_wrong_method_is_405(alice_client, alice_principle):
    _assert_error(alice_client.post(url(alice_principle.pk), {}, format="json"), 405, "method_not_allowed", [])
