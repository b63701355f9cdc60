"""The embedded mode's in-process runner: started on first use, and stopped cleanly (sweep thread and pools)."""

import threading

import pytest

from worker.in_process import InProcessRunner


@pytest.mark.django_db(transaction=True)
def test_the_sweep_and_the_pools_stop_at_shutdown(settings):
    settings.GENERATION_SWEEP_INTERVAL_SECONDS = 3600  # it must not take an interval to notice the stop
    runner = InProcessRunner()
    ran = threading.Event()
    runner.submit(ran.set)
    assert ran.wait(10) and runner.started
    sweep = runner._sweep
    assert sweep is not None and sweep.is_alive()
    runner.submit(ran.clear, countdown=60)  # a retry waiting out its backoff is dropped
    runner.shutdown()
    assert not sweep.is_alive() and not runner.started
    assert ran.is_set()
    assert not any(
        thread.name.startswith(("generation", "callbacks")) and thread.is_alive()
        for thread in threading.enumerate()
        if thread is not threading.current_thread()
    )


def test_a_wait_ends_at_once_when_the_runner_stops():
    runner = InProcessRunner()
    stopper = threading.Timer(0.2, runner.shutdown)
    stopper.start()
    assert runner.wait_unless_stopped(30) is True
