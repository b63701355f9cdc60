"""Database connection hygiene for long requests.

A request holds its database connection until it ends. For a Server-Sent Events stream that is minutes, and each
web process has a small pool (DB_POOL_MAX_SIZE): a few open streams would hold every connection and the next
requests would time out waiting for one. Long requests give the connection back between their reads.
"""

from __future__ import annotations

from django.db import connection


def connection_release() -> None:
    """Give this thread's connection back (to the pool, or close it without one); the next query takes another.
    Inside a transaction it does nothing (the transaction needs its connection)."""
    if not connection.in_atomic_block:
        connection.close()
