"""`python -m alignment_engine generate ...`: one prompt, a stream, or a JSONL batch."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any, TextIO

from alignment_engine.config import ENDING_FIELDS, GUARD_FIELDS, GenerationConfig, InvalidParameterError
from alignment_engine.rule_recognition import recognise_rules
from alignment_engine.types import GenerationRequest, Principle

BATCH_FIELDS = ("id", "text", "tokens", "finish_reason", "seconds")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alignment_engine", description="Linear Alignment text generation")
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="generate aligned replies")
    generate.add_argument("prompt", nargs="?", help="the user message (omit with --input)")
    generate.add_argument("--principle", action="append", default=[], help="a principle (repeatable)")
    generate.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="JSON",
        help='a rule enforced without a principle, e.g. \'{"type": "casing", "value": "lower"}\' (repeatable)',
    )
    generate.add_argument(
        "--no-rule-recognition",
        action="store_true",
        help="do not enforce rules recognised from the principles' text (explicit rules still apply)",
    )
    generate.add_argument("--system", help="base system text kept in both streams")
    generate.add_argument("--alpha", type=float)
    generate.add_argument("--temperature", type=float)
    generate.add_argument("--top-p", type=float)
    generate.add_argument("--max-new-tokens", type=int)
    generate.add_argument("--seed", type=int)
    generate.add_argument("--do-sample", action="store_true", help="sample instead of greedy decoding")
    generate.add_argument("--stop", action="append", help="stop string (repeatable)")
    generate.add_argument("--repetition-penalty", type=float)
    generate.add_argument("--no-repeat-ngram-size", type=int)
    generate.add_argument("--presence-penalty", type=float, help="OpenAI's presence penalty, -2..2 (default 0)")
    generate.add_argument("--frequency-penalty", type=float, help="OpenAI's frequency penalty, -2..2 (default 0)")
    generate.add_argument("--dry-multiplier", type=float, help="DRY repetition guard strength (0: off)")
    generate.add_argument("--dry-base", type=float, help="DRY growth per token of a longer repeat (>= 1)")
    generate.add_argument("--dry-allowed-length", type=int, help="longest repeat DRY lets pass (>= 1)")
    generate.add_argument("--dry-penalty-last-n", type=int, help="tokens DRY looks back over (-1: all, 0: off)")
    generate.add_argument(
        "--dry-sequence-breaker",
        dest="dry_sequence_breakers",
        action="append",
        help="string no DRY repeat may cross (repeatable; none by default)",
    )
    generate.add_argument(
        "--end-bonus", type=float, help="end-of-turn bonus (logits) at sentence ends near the token budget (0: off)"
    )
    generate.add_argument("--end-bonus-start", type=float, help="fraction of --max-new-tokens where it starts")
    generate.add_argument("--stream", action="store_true", help="print text as it is generated")
    generate.add_argument("--json", action="store_true", help="print the result as JSON")
    generate.add_argument("--input", help="JSONL file of requests (batch mode)")
    generate.add_argument("--output", help="JSONL file for results (batch mode; default stdout)")
    generate.add_argument("--batch-size", type=int, default=16, help="requests decoded together in batch mode")
    generate.add_argument("--model", help="GGUF file or local Hugging Face model directory [ENGINE_MODEL]")
    generate.add_argument("--backend", choices=("auto", "torch", "llamacpp"), default=None, help="[ENGINE_BACKEND]")
    generate.add_argument("--device", help="torch device: cpu, cuda, cuda:N [ENGINE_DEVICE]")
    generate.add_argument("--dtype", help="torch dtype: float32, bfloat16, float16 [ENGINE_DTYPE]")
    generate.add_argument("--threads", type=int, help="CPU threads (llama.cpp; torch's thread count) [ENGINE_THREADS]")
    generate.add_argument("--cache-dir", help="converted-model cache for GGUF files on torch [ENGINE_CACHE_DIR]")
    return parser


# Engine options left unset on the command line fall back to these environment variables.
ENGINE_ENVIRONMENT = {
    "model": "ENGINE_MODEL",
    "backend": "ENGINE_BACKEND",
    "device": "ENGINE_DEVICE",
    "dtype": "ENGINE_DTYPE",
    "threads": "ENGINE_THREADS",
    "cache_dir": "ENGINE_CACHE_DIR",
}


def engine_settings(args: argparse.Namespace, environ: dict[str, str]) -> dict[str, Any]:
    """load_engine's keyword arguments: the command line first, then ENGINE_* variables, else None (default)."""
    settings: dict[str, Any] = {}
    for name, variable in ENGINE_ENVIRONMENT.items():
        value = getattr(args, name)
        settings[name] = value if value not in (None, "") else environ.get(variable) or None
    if isinstance(settings["threads"], str):
        try:
            settings["threads"] = int(settings["threads"])
        except ValueError:
            raise InvalidParameterError("threads", "ENGINE_THREADS must be an integer") from None
    return settings


def config_values(args: argparse.Namespace) -> dict[str, Any]:
    """Only the options the user set, so GenerationConfig keeps its defaults for the rest."""
    values = {
        "alpha": args.alpha,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "max_new_tokens": args.max_new_tokens,
        "seed": args.seed,
        "stop": args.stop,
        "repetition_penalty": args.repetition_penalty,
        "no_repeat_ngram_size": args.no_repeat_ngram_size,
        **{name: getattr(args, name) for name in (*GUARD_FIELDS, *ENDING_FIELDS)},
    }
    values = {key: value for key, value in values.items() if value is not None}
    if args.do_sample:
        values["do_sample"] = True
    return values


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.input and args.prompt:
            raise InvalidParameterError("prompt", "give either a prompt or --input, not both")
        if not args.input and not args.prompt:
            raise InvalidParameterError("prompt", "a prompt or --input is required")
        if args.batch_size < 1:
            raise InvalidParameterError("batch_size", "must be >= 1")
        base = config_values(args)
        GenerationConfig.from_dict(base)
        settings = engine_settings(args, dict(os.environ))
        recognise = not args.no_rule_recognition
        requests = read_batch(args.input, base, recognise) if args.input else [single_request(args, base)]
        engine = _load(settings)
        if args.input:
            run_batch(engine, requests, args.output, args.batch_size)
        elif args.stream:
            run_stream(engine, requests[0][1], args.json)
        else:
            result = engine.generate(requests[0][1])
            print(json.dumps(result.to_dict(), ensure_ascii=False) if args.json else result.text)
    except InvalidParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _load(settings: dict[str, Any]) -> Any:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    from alignment_engine.loader import load_engine

    return load_engine(**settings)


def single_request(args: argparse.Namespace, base: dict[str, Any]) -> tuple[str, GenerationRequest]:
    messages = [{"role": "user", "content": args.prompt}]
    if args.system:
        messages.insert(0, {"role": "system", "content": args.system})
    recognise = not args.no_rule_recognition
    request = GenerationRequest(
        messages=messages,
        principles=[_principle(text, recognise) for text in args.principle],
        config=GenerationConfig.from_dict(base),
        rules=tuple(_rule_argument(text, position) for position, text in enumerate(args.rule)),
    )
    request.enforced_rules()
    return None, request


def _rule_argument(text: str, position: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidParameterError(f"rules[{position}]", f"--rule is not valid JSON ({error.msg})") from None


def parse_line(line: str, number: int, base: dict[str, Any], recognise: bool = True) -> tuple[Any, GenerationRequest]:
    """One input line -> (id, request); errors name the line and the field.

    A line may carry `"rules"` (enforced without a principle) and principles as text or
    {"text", "weight"?, "rules"?, "steer"?}; a principle without explicit rules gets those recognised from its
    text."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as error:
        raise InvalidParameterError(f"line {number}", f"not valid JSON ({error.msg})") from None
    if not isinstance(item, dict):
        raise InvalidParameterError(f"line {number}", "must be a JSON object")
    try:
        if ("prompt" in item) == ("messages" in item):
            raise InvalidParameterError("prompt", "give exactly one of prompt or messages")
        if "prompt" in item and not isinstance(item["prompt"], str):
            raise InvalidParameterError("prompt", "must be a string")
        messages = item.get("messages") or [{"role": "user", "content": item.get("prompt")}]
        principles = item.get("principles", [])
        if not isinstance(principles, list):
            raise InvalidParameterError("principles", "must be a list")
        values = dict(base)
        if "alpha" in item:
            values["alpha"] = item["alpha"]
        principle_list = []
        for position, principle in enumerate(principles):
            try:
                principle_list.append(_principle(principle, recognise))
            except InvalidParameterError as error:
                where = error.field if error.field.startswith("principles") else f"principles[{position}].{error.field}"
                raise InvalidParameterError(where, error.message) from None
        request = GenerationRequest(
            messages=messages,
            principles=principle_list,
            config=GenerationConfig.from_dict(values),
            rules=item.get("rules", ()),
        )
        request.enforced_rules()
    except InvalidParameterError as error:
        raise InvalidParameterError(f"line {number}: {error.field}", error.message) from None
    return item.get("id"), request


def _principle(value: Any, recognise: bool) -> Principle:
    """A principle from text or {"text", "weight"?, "rules"?, "steer"?}; without explicit rules, those
    recognised from its text (when `recognise`)."""
    principle = Principle.from_dict(value)
    explicit = isinstance(value, dict) and "rules" in value
    if recognise and not explicit:
        return Principle(principle.text, principle.weight, recognise_rules(principle.text), principle.steer)
    return principle


def read_batch(path: str, base: dict[str, Any], recognise: bool = True) -> list[tuple[Any, GenerationRequest]]:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [(number, line) for number, line in enumerate(handle, start=1) if line.strip()]
    except OSError as error:
        raise InvalidParameterError("input", str(error)) from None
    return [parse_line(line, number, base, recognise) for number, line in lines]


def run_batch(engine: Any, requests: list[tuple[Any, GenerationRequest]], output: str | None, batch_size: int) -> None:
    from tqdm import tqdm

    with ExitStack() as stack:
        handle: TextIO = stack.enter_context(open(output, "w", encoding="utf-8")) if output else sys.stdout
        progress = stack.enter_context(tqdm(total=len(requests), unit="req", file=sys.stderr))
        for start in range(0, len(requests), batch_size):
            chunk = requests[start : start + batch_size]
            results = engine.generate_batch([request for _, request in chunk])
            for (identifier, _), result in zip(chunk, results, strict=True):
                row = {"id": identifier, **{key: getattr(result, key) for key in BATCH_FIELDS[1:]}}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.flush()
            progress.update(len(chunk))


def run_stream(engine: Any, request: GenerationRequest, as_json: bool) -> None:
    for event in engine.stream(request):
        if as_json:
            line = {"result": event.result.to_dict()} if event.result else {"delta": event.delta}
            print(json.dumps(line, ensure_ascii=False), flush=True)
        elif event.result is None:
            print(event.delta, end="", flush=True)
    if not as_json:
        print()
