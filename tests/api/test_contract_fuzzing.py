"""The API keeps its own contract under fuzzing: schemathesis' generated requests (valid and invalid), every
check, then a stateful phase that chains operations (create a conversation, post to it, read the job...) as alice
and bob, so `object_level_authorization` replays each one's reads as the other."""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from django.db import transaction
from knox.models import AuthToken

from assistant.throttles import GenerationThrottle
from tests.api.conftest import PEERS, load_schema, without_session_enders

MAX_EXAMPLES = 25


def assert_peers_still_logged_in() -> None:
    """Fuzzing as users who lost their tokens would only ever meet 401s and prove nothing."""
    assert AuthToken.objects.filter(user__username__in=PEERS).values("user").distinct().count() == len(PEERS)


@pytest.fixture
def api_schema(db, fuzz_settings, tmp_path):
    yield load_schema(directory=tmp_path, max_examples=MAX_EXAMPLES, phases=["examples", "coverage", "fuzzing"])
    assert_peers_still_logged_in()


schema = without_session_enders(schemathesis.pytest.from_fixture("api_schema"))


@schema.parametrize()
def test_every_operation_keeps_its_contract(case):
    case.call_and_validate()


STATEFUL_SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    stateful_step_count=8,
    deadline=None,
    database=None,
    derandomize=True,
    # No shrinking: a scenario replayed against the database it already changed would draw differently.
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    suppress_health_check=list(hypothesis.HealthCheck),
)


def test_stateful_two_users(db, fuzz_settings, tmp_path, monkeypatch):
    # Every scenario starts from the same data (a savepoint rolled back) and is never throttled (the throttle's
    # counts would outlive the rollback and change what later scenarios can do).
    monkeypatch.setattr(GenerationThrottle, "allow_request", lambda self, request, view: True)
    stateful = without_session_enders(load_schema(directory=tmp_path, max_examples=MAX_EXAMPLES, phases=["stateful"]))

    class Scenarios(stateful.as_state_machine()):
        def setup(self) -> None:
            self.savepoint = transaction.savepoint()

        def teardown(self) -> None:
            transaction.savepoint_rollback(self.savepoint)

    Scenarios.run(settings=STATEFUL_SETTINGS)
    assert_peers_still_logged_in()
