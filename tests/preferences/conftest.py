"""Fixtures for the principle API: alice's principles and a snapshot of everything stored."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from preferences.models import Principle, PrincipleVersion
from preferences.services import principle_update
from tests.factories import PrincipleFactory


@pytest.fixture
def alice_principle(alice) -> Principle:
    """Alice's principle with two versions (created, then edited)."""
    principle = PrincipleFactory(owner=alice, text="Reply in French.", title="Language", weight=1.5)
    return principle_update(principle=principle, actor=alice, text="Reply in French, briefly.")


@pytest.fixture
def stored_state() -> Callable[[], tuple]:
    """``stored_state()`` -> every principle and version row; equal before and after a rejected request."""

    def snapshot() -> tuple:
        return (
            list(Principle.objects.order_by("id").values()),
            list(PrincipleVersion.objects.order_by("id").values()),
        )

    return snapshot


def url(principle_id: int | str, suffix: str = "") -> str:
    return f"/api/v1/principles/{principle_id}/{suffix}"
