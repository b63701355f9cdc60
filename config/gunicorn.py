"""Gunicorn settings for the web service: uvicorn workers (ASGI, so Server-Sent Events stream), one per CPU core by
default (`WEB_CONCURRENCY` overrides), bound to `BIND` (default 127.0.0.1:8000).

`gunicorn -c config/gunicorn.py config.asgi:application` (scripts/run.sh, docker-compose.yml, the Dockerfile).
Each worker process holds its own PostgreSQL pool (config/settings.py, DB_POOL_MAX_SIZE), so the database sees at
most workers x pool size connections. The workers share a folder for the Prometheus metrics (config/metrics.py).
Uvicorn picks uvloop and httptools (requirements.txt) by itself: on this service's requests they cut the server's
CPU per request by about half a millisecond against asyncio's loop and the pure-Python h11 parser.
"""

import gc
import os
import shutil
import tempfile
from pathlib import Path

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
worker_class = "uvicorn_worker.UvicornWorker"
# Uvicorn workers heartbeat on their own: a long request (a stream, `?wait=`) never trips this.
timeout = int(os.environ.get("WEB_WORKER_TIMEOUT", "60"))
graceful_timeout = 30
# Longer than clients keep an idle connection (httpx: 5 s), so a client never reuses one the server is closing.
keepalive = int(os.environ.get("WEB_KEEPALIVE_SECONDS", "20"))
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The workers share one listening socket, and libuv (uvloop) accepts every pending connection at once: a burst of
# new keep-alive connections (a proxy's pool, a load generator) all went to the worker that woke first, and the
# others idled. One accept per loop turn lets the next worker take the next connection (libuv's own switch, read
# by each worker's event loop; docs/service.md, "Running requests").
os.environ.setdefault("UV_TCP_SINGLE_ACCEPT", "1")

# One metrics folder per server, emptied at start (the files of dead processes would count forever otherwise).
_default_metrics_dir = Path(tempfile.gettempdir()) / f"principled-metrics-{os.getpid()}"
_metrics_dir = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or _default_metrics_dir)
shutil.rmtree(_metrics_dir, ignore_errors=True)
_metrics_dir.mkdir(parents=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)


def child_exit(server, worker) -> None:
    """A worker that ends (restart, crash) stops counting towards the live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker) -> None:
    """Once a worker has loaded the application, its objects (modules, Django's app registry, URL patterns) are
    moved out of the garbage collector's generations: they live as long as the process, and every full
    collection would otherwise walk them again. Measured in-process on the submission: 0.17 -> 0.06 ms of
    collector time per request."""
    gc.collect()
    gc.freeze()


# With several workers, each listens on a TCP socket of its own, bound to the same address with SO_REUSEPORT, and
# the kernel spreads new connections across them by a hash of the connection's addresses: gunicorn's `reuse_port`,
# with which the master opens no listener and each worker its own. On one shared socket the worker that was running
# when a burst of connections arrived accepted them all (half the bench's rows on 2 cores, even with one accept per
# loop turn): one process then served every request of those keep-alive connections while the other idled. The
# cost: the connections waiting in a worker's backlog when it exits are reset (Linux moves them to another worker's
# socket with net.ipv4.tcp_migrate_req=1). WEB_REUSE_PORT=0 or a single worker keep the shared socket.
reuse_port = workers > 1 and os.environ.get("WEB_REUSE_PORT", "1") != "0"
