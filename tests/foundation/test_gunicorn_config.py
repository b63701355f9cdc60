"""The production server's settings file (config/gunicorn.py), loaded as gunicorn loads it."""

import gc
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.request
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


def _listening_and_connected(port: int, pids: list[int]) -> tuple[dict[int, int], dict[int, int]]:
    """Per process: its listening TCP sockets on `port`, and its accepted connections on it (from /proc)."""
    states: dict[str, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                states[fields[9]] = fields[3]  # inode -> state (0A listening, 01 established)
    listening, connected = {}, {}
    for pid in pids:
        inodes = []
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd) if fd.is_symlink() else ""
            if target.startswith("socket:["):
                inodes.append(target[len("socket:[") : -1])
        listening[pid] = sum(states.get(inode) == "0A" for inode in inodes)
        connected[pid] = sum(states.get(inode) == "01" for inode in inodes)
    return listening, connected


def test_each_worker_listens_on_its_own_socket_and_a_burst_of_connections_spreads_over_them(tmp_path):
    """The kernel hashes each new connection to one worker's socket (SO_REUSEPORT): a burst of 32 keep-alive
    connections no longer lands on whichever worker was running. 32 connections on 2 sockets: a split worse than
    4/28 has a chance of about 3 in a million."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "gunicorn-test",
        "DEBUG": "0",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    env.pop("WEB_REUSE_PORT", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "config.asgi:application"],
        cwd=CONFIG.parents[1],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    connections: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, server.stderr.read().decode()[-2000:]
            time.sleep(0.3)
        workers = [int(pid) for pid in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
        assert len(workers) == 2
        listening, _ = _listening_and_connected(port, [server.pid, *workers])
        assert listening == {server.pid: 0, workers[0]: 1, workers[1]: 1}
        for _ in range(32):
            connection = socket.create_connection(("127.0.0.1", port))
            connections.append(connection)
        time.sleep(1.0)
        _, connected = _listening_and_connected(port, workers)
        assert sum(connected.values()) == 32 and min(connected.values()) >= 4, connected
        while connections:  # idle connections would hold the old workers' graceful exit
            connections.pop().close()
        # A reload (HUP) replaces the workers, and the new ones bind their own sockets too.
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while True:
            children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
            reloaded = [int(pid) for pid in children if int(pid) not in workers]
            if len(reloaded) == 2 and len(children) == 2:
                listening, _ = _listening_and_connected(port, [server.pid, *reloaded])
                if listening == {server.pid: 0, reloaded[0]: 1, reloaded[1]: 1}:
                    break
            assert time.monotonic() < deadline, (children, workers)
            time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        for connection in connections:
            connection.close()
        server.terminate()
        server.wait(timeout=30)
