"""The generation engine of this process: loaded once (on first use or at worker start), then reused."""
import os
import socket
import threading

from django.conf import settings

from alignment_engine import Engine, load_engine

_lock = threading.Lock()
_engine: Engine | None = None


def get_engine() -> Engine:
    """The process-wide engine, built from the ENGINE_* settings on first call."""
    global _engine
    with _lock:
        if _engine is None:
            _engine = load_engine(
                model=settings.ENGINE_MODEL or None,
                backend=settings.ENGINE_BACKEND or "auto",
                device=settings.ENGINE_DEVICE or None,
                dtype=settings.ENGINE_DTYPE or None,
            )
        return _engine


def worker_identity() -> str:
    """Host and process id of the process running a job, recorded on the job."""
    return f"{socket.gethostname()}:{os.getpid()}"
