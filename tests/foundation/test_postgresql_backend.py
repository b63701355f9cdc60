"""core.postgresql: Django's PostgreSQL backend with batches that fit a statement bound on the server."""

import pytest
from django.db import connection

from assistant.models import Message
from core.postgresql.base import MAX_BOUND_PARAMETERS

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend"),
]


def test_the_service_binds_on_the_server_by_default_and_batches_to_the_protocols_limit():
    assert connection.settings_dict["OPTIONS"]["server_side_binding"] is True
    fields = [Message._meta.get_field(name) for name in ("conversation", "role", "content")]
    assert connection.ops.bulk_batch_size(fields, range(100_000)) == MAX_BOUND_PARAMETERS // 3


def test_client_side_binding_batches_as_djangos_own(monkeypatch):
    monkeypatch.delitem(connection.settings_dict["OPTIONS"], "server_side_binding")
    assert connection.ops.bulk_batch_size([Message._meta.pk], range(100_000)) == 100_000
