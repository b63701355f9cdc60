"""The one generation contract: what either API (conversations or OpenAI-compatible) asks for becomes a validated
engine request here, and a stored job becomes the same request again in the worker.

- Settings: the service's defaults (alpha, max_new_tokens) are filled in, the service's max_new_tokens cap
  applies, and the engine's own `GenerationConfig` validates the rest; errors name the field as the client sent
  it. Serializers take their bounds from the engine's constants (`ENGINE_BOUNDS`), so the APIs, the stored job
  and the engine agree.
- Principles: a weight of 0 means *inactive*: the principle is kept (and versioned) but never applied to a reply,
  so it is neither sent to the engine nor recorded on the job. That holds for the user's principles and for the
  per-request principles of the OpenAI endpoint alike.
- Rules: each principle entry carries the rules decoding keeps for it (`enforced_as`, JSON form); the engine
  enforces their union and refuses a set no reply can keep before decoding.
- Messages are checked by the engine's own request type at submission, so a job the worker would refuse is
  refused to the client as a 400 instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings

from alignment_engine import GenerationConfig, GenerationRequest, InvalidParameterError, Principle
from alignment_engine.config import MAX_ALPHA, MAX_SEED, MIN_TEMPERATURE
from core.exceptions import ApplicationError

# Bounds for serializer fields, from the engine's constants.
ENGINE_BOUNDS: dict[str, dict[str, float | bool]] = {
    "alpha": {"min_value": 0, "max_value": MAX_ALPHA},
    "temperature": {"min_value": MIN_TEMPERATURE},
    "top_p": {"min_value": 0, "max_value": 1, "exclusive_minimum": True},
    "seed": {"min_value": 0, "max_value": MAX_SEED},
    "repetition_penalty": {"min_value": 0, "exclusive_minimum": True},
}


def _invalid(name: str, message: str) -> ApplicationError:
    return ApplicationError(f"Invalid generation setting {name}.", code="validation_error", fields={name: [message]})


def generation_settings_resolve(
    *,
    requested: Mapping[str, Any],
    field_prefix: str = "settings.",
    field_aliases: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Fill defaults, apply the max_new_tokens cap and validate with the engine's own config class; returns the
    settings as stored on the job (alpha included: the job stores it once, there).

    Errors name the field as the client sent it: `field_prefix` + (its alias, or the config field name).
    """
    aliases = field_aliases or {}
    values = {"alpha": settings.GENERATION_DEFAULT_ALPHA, "max_new_tokens": settings.GENERATION_DEFAULT_MAX_TOKENS}
    values.update(requested)
    cap = settings.GENERATION_MAX_TOKENS
    max_new_tokens = values["max_new_tokens"]
    if isinstance(max_new_tokens, int) and not isinstance(max_new_tokens, bool) and max_new_tokens > cap:
        name = field_prefix + aliases.get("max_new_tokens", "max_new_tokens")
        raise ApplicationError(
            f"{name} is capped at {cap}.",
            code="validation_error",
            fields={name: [f"Ensure this value is less than or equal to {cap}."]},
        )
    try:
        config = GenerationConfig.from_dict(values)
    except InvalidParameterError as exc:
        raise _invalid(field_prefix + aliases.get(exc.field, exc.field), exc.message) from None
    return config.to_dict()


def principles_applied(principles: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The principles a reply is steered by: all but the inactive ones (weight 0), in order."""
    return [dict(principle) for principle in principles if float(principle["weight"]) > 0]


def messages_validate(messages: list[dict[str, str]], *, field: str = "messages") -> None:
    """Refuse messages the engine would refuse (roles, order), naming the field."""
    try:
        GenerationRequest(messages=messages)
    except InvalidParameterError as exc:
        raise ApplicationError(exc.message, code="validation_error", fields={field: [exc.message]}) from None


def generation_request_from_job(
    *, messages: list[dict[str, str]], principle_versions: Iterable[Mapping[str, Any]], settings_used: Mapping[str, Any]
) -> GenerationRequest:
    """The engine request a stored job describes (raises InvalidParameterError when the engine refuses it)."""
    return GenerationRequest(
        messages=messages,
        principles=[
            Principle(item["text"], item["weight"], rules=tuple(item.get("rules") or ()))
            for item in principles_applied(principle_versions)
        ],
        config=GenerationConfig.from_dict(dict(settings_used)),
    )
