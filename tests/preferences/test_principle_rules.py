"""Principles carry rules: explicit ones (validated JSON), or recognised from the text unless switched off; the
resource shows how it is enforced (`enforced_as`); rules are versioned; rules that cannot be kept together with
the user's other active principles are refused."""

import pytest

from preferences.models import PrincipleVersion

pytestmark = pytest.mark.django_db
LIST = "/api/v1/principles/"


def test_a_recognised_rule_is_shown_as_enforced(alice_client):
    body = alice_client.post(LIST, {"text": "Never use the word 'very'."}).json()
    assert body["rules"] == [] and body["rule_recognition"] is True
    assert body["enforced_as"] == [{"type": "forbidden", "value": ["very"], "ignore_case": True}]
    assert body["steered"] is False  # the text says nothing beyond its rule: kept by the rule alone


def test_a_soft_principle_is_steered_only(alice_client):
    body = alice_client.post(LIST, {"text": "Be concise, like a pirate."}).json()
    assert body["enforced_as"] == [] and body["steered"] is True


def test_a_principle_that_says_more_than_its_rule_also_steers(alice_client):
    body = alice_client.post(LIST, {"text": "Be warm. Never use the word 'very'."}).json()
    assert body["enforced_as"] and body["steered"] is True


def test_recognition_can_be_switched_off(alice_client):
    body = alice_client.post(LIST, {"text": "Never use the word 'very'.", "rule_recognition": False}).json()
    assert body["enforced_as"] == [] and body["steered"] is True


def test_explicit_rules_win_and_are_versioned(alice_client):
    created = alice_client.post(
        LIST, {"text": "Sign off politely.", "rules": [{"type": "closing", "value": "Best regards."}]}
    ).json()
    assert created["enforced_as"] == [{"type": "closing", "value": "Best regards."}]
    url = f"{LIST}{created['id']}/"
    changed = alice_client.patch(url, {"rules": [{"type": "max_sentences", "value": 3}]}).json()
    assert changed["version"] == 2 and changed["enforced_as"] == [{"type": "max_sentences", "value": 3}]
    versions = PrincipleVersion.objects.filter(principle_id=created["id"]).order_by("number")
    assert [v.rules for v in versions] == [
        [{"type": "closing", "value": "Best regards."}],
        [{"type": "max_sentences", "value": 3}],
    ]
    restored = alice_client.post(f"{url}versions/1/restore/").json()
    assert restored["enforced_as"] == [{"type": "closing", "value": "Best regards."}]


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ([{"type": "shout"}], "rules.0.type"),
        ([{"type": "max_words", "value": 0}], "rules.0.value"),
        ([{"type": "max_words", "value": "ten"}], "rules.0.value"),
        ([{"type": "closing"}], "rules.0.value"),
        ([{"type": "no_emoji", "value": True}], "rules.0.value"),
        ({"type": "no_emoji"}, "rules"),
    ],
)
def test_malformed_or_impossible_rules_are_a_400_naming_the_field(alice_client, rules, field):
    response = alice_client.post(LIST, {"text": "Rule.", "rules": rules})
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.json()
    assert not alice_client.get(LIST).json()["count"]


def test_rules_that_cannot_be_kept_together_are_a_409(alice_client):
    for rules in (
        [{"type": "opening", "value": "Very well"}, {"type": "forbidden", "value": ["very"]}],
        [{"type": "casing", "value": "lower"}, {"type": "casing", "value": "upper"}],
    ):
        response = alice_client.post(LIST, {"text": "Rule.", "rules": rules})
        assert response.status_code == 409 and response.json()["error"]["code"] == "rule_conflict", rules
    assert not alice_client.get(LIST).json()["count"]


def test_rules_that_clash_with_another_active_principle_are_a_409(alice_client):
    first = alice_client.post(LIST, {"text": "Start every reply with 'Very well'."}).json()
    assert first["enforced_as"] == [{"type": "opening", "value": "Very well"}]
    response = alice_client.post(LIST, {"text": "Never use the word 'very'."})
    assert response.status_code == 409 and response.json()["error"]["code"] == "rule_conflict"
    assert f"principle {first['id']}" in response.json()["error"]["message"]
    inactive = alice_client.post(LIST, {"text": "Never use the word 'very'.", "active": False})
    assert inactive.status_code == 201  # kept, inactive: it constrains nothing
    assert alice_client.patch(f"{LIST}{inactive.json()['id']}/", {"active": True}).status_code == 409
