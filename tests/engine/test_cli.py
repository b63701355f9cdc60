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
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_bad_parameter_exits_2_and_names_the_field():
    completed = cli("Hi", "--top-p", "1.5")
    assert completed.returncode == 2
    assert "top_p" in completed.stderr


@pytest.mark.slow
def test_single_prompt_json_and_batch(tmp_path):
    completed = cli(
        "Name a fruit.",
        "--principle",
        "Always reply in French.",
        "--max-new-tokens",
        "4",
        "--json",
        "--backend",
        "torch",
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["tokens"] <= 4 and result["backend"] == "torch" and result["config"]["max_new_tokens"] == 4

    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(
        json.dumps({"id": 1, "prompt": "Name a fruit.", "principles": ["Be brief."], "alpha": 1})
        + "\n"
        + json.dumps({"id": "b", "messages": [{"role": "user", "content": "Hi"}], "principles": []})
        + "\n"
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
        "model": None,
        "backend": "torch",
        "device": "cpu",
        "dtype": None,
        "threads": 3,
        "cache_dir": "/c",
    }
    assert engine_settings(build_parser().parse_args(["generate", "Hi"]), environ)["threads"] == 1
    with pytest.raises(InvalidParameterError) as error:
        engine_settings(build_parser().parse_args(["generate", "Hi"]), {"ENGINE_THREADS": "many"})
    assert error.value.field == "threads"


# Rules ----------------------------------------------------------------------------------------------------------

LOWER = {"type": "casing", "value": "lower"}


def parsed(*argv):
    from alignment_engine.cli import build_parser, config_values, single_request

    args = build_parser().parse_args(["generate", "Hi", *argv])
    return single_request(args, config_values(args))[1]


def test_rules_from_rule_arguments_and_recognised_from_principles():
    from alignment_engine.rules import Casing, Forbidden

    request = parsed(
        "--principle",
        "Write everything in lowercase.",
        "--principle",
        "Be kind.",
        "--rule",
        json.dumps({"type": "forbidden", "value": ["very"]}),
    )
    assert request.principles[0].rules == (Casing("lower"),)
    assert request.principles[1].rules == ()
    assert request.rules == (Forbidden(("very",)),)
    assert request.enforced_rules() == (Forbidden(("very",)), Casing("lower"))
    off = parsed("--principle", "Write everything in lowercase.", "--no-rule-recognition")
    assert off.principles[0].rules == () and off.enforced_rules() == ()


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--rule", "{not json"], "rules[0]"),
        (["--rule", json.dumps({"type": "casing", "value": "title"})], "rules[0].value"),
        (
            [
                "--rule",
                json.dumps({"type": "opening", "value": "Very well."}),
                "--rule",
                json.dumps({"type": "forbidden", "value": ["very"]}),
            ],
            "rules[0]",
        ),
        (
            [
                "--principle",
                "Never use the word 'tea'.",
                "--rule",
                json.dumps({"type": "opening", "value": "Tea time."}),
            ],
            "rules[0]",
        ),
    ],
)
def test_bad_or_impossible_rules_name_the_field(argv, field):
    with pytest.raises(InvalidParameterError) as error:
        parsed(*argv)
    assert error.value.field == field


def test_batch_lines_carry_rules(tmp_path):
    from alignment_engine.cli import parse_line
    from alignment_engine.rules import Casing, MaxWords, NoEmoji

    line = json.dumps(
        {
            "prompt": "Hi",
            "rules": [{"type": "no_emoji"}],
            "principles": [{"text": "Keep it under 20 words.", "rules": [LOWER]}, "Answer in at most 30 words."],
        }
    )
    _, request = parse_line(line, 1, {})
    assert request.rules == (NoEmoji(),)
    assert request.principles[0].rules == (Casing("lower"),)  # explicit rules: nothing recognised
    assert request.principles[1].rules == (MaxWords(30),)
    bad = json.dumps({"prompt": "Hi", "principles": [{"text": "x", "rules": [{"type": "max_words", "value": 0}]}]})
    with pytest.raises(InvalidParameterError) as error:
        parse_line(bad, 3, {})
    assert error.value.field == "line 3: principles[0].rules[0].value"
    clash = json.dumps(
        {
            "prompt": "Hi",
            "rules": [{"type": "casing", "value": "upper"}],
            "principles": [{"text": "x", "rules": [LOWER]}],
        }
    )
    with pytest.raises(InvalidParameterError) as error:
        parse_line(clash, 4, {})
    assert error.value.field == "line 4: principles[0].rules[0]"


def test_impossible_rules_exit_2_before_loading_the_model():
    completed = cli(
        "Hi",
        "--rule",
        json.dumps({"type": "opening", "value": "Hey!"}),
        "--rule",
        json.dumps({"type": "forbidden", "value": ["!"]}),
        "--backend",
        "torch",
    )
    assert completed.returncode == 2
    assert "rules[0]" in completed.stderr


@pytest.mark.slow
def test_rule_is_kept_in_the_reply():
    completed = cli(
        "Where should I go on holiday?",
        "--rule",
        json.dumps(LOWER),
        "--principle",
        "Reply with exactly the words 'Hello World' first.",
        "--max-new-tokens",
        "12",
        "--backend",
        "torch",
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() and completed.stdout == completed.stdout.lower()
