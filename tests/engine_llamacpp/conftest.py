"""One llama.cpp engine (and, for comparisons, one torch engine) per test session."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def llama_engine():
    pytest.importorskip("llama_cpp")
    from alignment_engine import load_engine

    return load_engine(backend="llamacpp")


@pytest.fixture(scope="session")
def torch_engine():
    from alignment_engine import load_engine

    return load_engine(backend="torch")
