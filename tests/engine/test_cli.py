"""The CLI contract, run as a subprocess like other tools do."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alignment_engine import InvalidParameterError

REPO = Path(__file__).resolve().parents[2]


def cli(*args, timeout=300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "alignment_engine", "generate", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )


def test_bad_parameter_exits_2_and_names_the_field():
    completed = cli("Hi", "--top-p", "1.5")
    assert completed.returncode == 2
    assert "top_p" in completed.stderr


@pytest.mark.slow
def test_single_prompt_json_and_batch(tmp_path):
    completed = cli("Name a fruit.", "--principle", "Always reply in French.", "--max-new-tokens", "4",
                    "--json", "--backend", "torch")
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["tokens"] <= 4 and result["backend"] == "torch" and result["config"]["max_new_tokens"] == 4

    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(
        json.dumps({"id": 1, "prompt": "Name a fruit.", "principles": ["Be brief."], "alpha": 1}) + "\n"
        + json.dumps({"id": "b", "messages": [{"role": "user", "content": "Hi"}], "principles": []}) + "\n"
    )
    completed = cli("--input", str(source), "--output", str(target), "--max-new-tokens", "3", "--backend", "torch")
    assert completed.returncode == 0, completed.stderr
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [row["id"] for row in rows] == [1, "b"]
    assert all(set(row) == {"id", "text", "tokens", "finish_reason", "seconds"} for row in rows)
    assert "2/2" in completed.stderr  # the progress bar


def test_batch_line_errors_name_line_and_field(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "prompt": "Hi", "alpha": -1}) + "\n")
    completed = cli("--input", str(source))
    assert completed.returncode == 2
    assert "line 1: alpha" in completed.stderr


def test_engine_options_fall_back_to_engine_variables():
    from alignment_engine.cli import build_parser, engine_settings

    args = build_parser().parse_args(["generate", "Hi", "--backend", "torch", "--threads", "3"])
    environ = {"ENGINE_BACKEND": "llamacpp", "ENGINE_THREADS": "1", "ENGINE_DEVICE": "cpu", "ENGINE_CACHE_DIR": "/c"}
    assert engine_settings(args, environ) == {
        "model": None, "backend": "torch", "device": "cpu", "dtype": None, "threads": 3, "cache_dir": "/c",
    }
    assert engine_settings(build_parser().parse_args(["generate", "Hi"]), environ)["threads"] == 1
    with pytest.raises(InvalidParameterError) as error:
        engine_settings(build_parser().parse_args(["generate", "Hi"]), {"ENGINE_THREADS": "many"})
    assert error.value.field == "threads"
