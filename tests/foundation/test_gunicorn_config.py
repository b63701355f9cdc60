"""The production server's settings file (config/gunicorn.py), loaded as gunicorn loads it."""

import gc
import os
import runpy
import weakref
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[2] / "config" / "gunicorn.py"


class _Node:
    pass


def test_worker_freezes_the_loaded_application_out_of_the_collector(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    settings = runpy.run_path(str(CONFIG))
    cycle = _Node()
    cycle.me = cycle
    garbage = weakref.ref(cycle)
    del cycle
    gc.unfreeze()
    try:
        settings["post_worker_init"](None)
        assert gc.get_freeze_count() > 10_000  # the interpreter with Django and the app loaded
        assert garbage() is None  # collected first: no garbage is frozen for the process's lifetime
    finally:
        gc.unfreeze()


def test_one_uvicorn_worker_per_core_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    settings = runpy.run_path(str(CONFIG))
    assert settings["workers"] == (os.cpu_count() or 1)
    assert settings["worker_class"] == "uvicorn_worker.UvicornWorker"


def test_workers_accept_one_connection_per_loop_turn(tmp_path, monkeypatch):
    """libuv otherwise accepts every pending connection at once: a burst of keep-alive connections all went to
    the first worker to wake up."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    monkeypatch.delenv("UV_TCP_SINGLE_ACCEPT", raising=False)
    runpy.run_path(str(CONFIG))
    assert os.environ["UV_TCP_SINGLE_ACCEPT"] == "1"  # inherited by the workers gunicorn forks
