"""Run one action from several threads at the same moment, as racing requests would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection


def run_at_once(action: Callable[[int], Any], count: int) -> list[Any]:
    """Call `action(index)` in `count` threads released together; returns each call's value or the exception it
    raised, by index. Each thread closes its own database connection."""
    outcomes: list[Any] = [None] * count
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = action(index)
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
