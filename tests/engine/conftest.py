import pytest


@pytest.fixture(scope="session")
def engine():
    """The real default model (SmolLM2-135M-Instruct), loaded once for the whole session."""
    from alignment_engine import load_engine

    return load_engine(backend="torch", device="cpu")
