"""The generation engine of this process: loaded once (on first use or at worker start), then reused."""

import os
import socket

from django.conf import settings

from alignment_engine import Engine, load_engine


def get_engine() -> Engine:
    """The process-wide engine for the ENGINE_* settings (load_engine loads it once per process and caches it)."""
    return load_engine(
        model=settings.ENGINE_MODEL or None,
        backend=settings.ENGINE_BACKEND or "auto",
        device=settings.ENGINE_DEVICE or None,
        dtype=settings.ENGINE_DTYPE or None,
        threads=settings.ENGINE_THREADS,
        cache_dir=settings.ENGINE_CACHE_DIR or None,
    )


def worker_identity() -> str:
    """Host and process id of the process running a job, recorded on the job."""
    return f"{socket.gethostname()}:{os.getpid()}"
