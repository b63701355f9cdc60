"""One llama.cpp engine (and, for comparisons, one torch engine) per test session.

ENGINE_THREADS, when set, gives the llama.cpp engine's thread count (the engine itself reads no environment).
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def llama_engine():
    pytest.importorskip("llama_cpp")
    from alignment_engine import load_engine

    threads = os.environ.get("ENGINE_THREADS")
    return load_engine(backend="llamacpp", threads=int(threads) if threads else None)


@pytest.fixture(scope="session")
def torch_engine():
    from alignment_engine import load_engine

    return load_engine(backend="torch")
