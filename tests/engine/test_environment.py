"""The engine library neither reads nor writes environment variables (its CLI may read ENGINE_* defaults).

A fresh interpreter with a minimal environment watches os.environ: every read or write made by code in
alignment_engine/ (outside cli.py's main) is recorded while the modules are imported and, in the slow test,
while an engine is loaded and generates.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE_DIR = REPO / "alignment_engine"

WATCHER = r"""
import json, os, sys

ENGINE_DIR = sys.argv[1]
touched = []


def note(action, key):
    frame = sys._getframe(2)
    while frame and frame.f_globals.get("__name__") in ("os", "_collections_abc"):
        frame = frame.f_back
    if frame and frame.f_code.co_filename.startswith(ENGINE_DIR):
        touched.append([action, key, frame.f_code.co_filename, frame.f_lineno])


class WatchedEnviron(type(os.environ)):
    def __getitem__(self, key):
        note("read", key)
        return super().__getitem__(key)

    def __contains__(self, key):
        note("read", key)
        return super().__contains__(key)

    def __setitem__(self, key, value):
        note("write", key)
        super().__setitem__(key, value)

    def __delitem__(self, key):
        note("write", key)
        super().__delitem__(key)


before = dict(os.environ)
os.environ.__class__ = WatchedEnviron
import importlib.util
import alignment_engine
from alignment_engine import cli, decoding, loader, models, processors, prompts, scheduler, text, torch_engine  # noqa
if importlib.util.find_spec("llama_cpp") is not None:
    from alignment_engine import llamacpp_backend  # noqa
if sys.argv[2] == "generate":
    engine = alignment_engine.load_engine(backend="torch", device="cpu", threads=1)
    engine.generate(alignment_engine.GenerationRequest.from_prompt(
        "Hi", ["Be brief"], alignment_engine.GenerationConfig(max_new_tokens=2)))
changed = sorted(key for key in set(before) | set(os.environ) if before.get(key) != os.environ.get(key))
print(json.dumps({"touched": touched, "changed": changed}))
"""


def watch(mode):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"), "PYTHONPATH": str(REPO)}
    completed = subprocess.run(
        [sys.executable, "-c", WATCHER, str(ENGINE_DIR), mode],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_importing_the_engine_leaves_the_environment_alone():
    report = watch("import")
    assert report == {"touched": [], "changed": []}


@pytest.mark.slow
def test_loading_and_generating_leave_the_environment_alone():
    report = watch("generate")
    assert report["touched"] == []
    # torch's compiler sets TORCHINDUCTOR_CACHE_DIR when transformers loads it: not the engine's doing
    assert not [key for key in report["changed"] if key.startswith(("HF_", "TRANSFORMERS_", "ENGINE_"))]
