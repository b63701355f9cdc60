"""How a principle is enforced: the rules it holds explicitly, or the ones recognised from its text.

A principle may carry explicit rules (set through the API or admin, or by an accepted suggestion that measured
one); without them, and unless the user switched recognition off for it, the engine's recogniser reads rules from
its text. Either way the result, `enforced_as`, is what decoding keeps exactly; an empty list means the
principle is steered by Linear Alignment only. Rules are versioned with their principle.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from alignment_engine import InvalidParameterError, Principle
from alignment_engine.rule_recognition import recognise_rules
from alignment_engine.rules import check_compatible, parse_rule, parse_rules
from core.exceptions import ApplicationError, Conflict


def _client_field(field: str) -> str:
    """The engine names `rules[0].value`; the API's error body uses dotted paths (`rules.0.value`)."""
    return field.replace("[", ".").replace("]", "")


def rules_validate(data: Any, *, field: str = "rules") -> list[dict[str, Any]]:
    """The rules in their JSON form, each validated (a 400 naming the field). Whether they can be kept together
    is a conflict with the state, not malformed input: `rules_compatible_with` answers it with a 409."""
    try:
        if not isinstance(data, (list, tuple)):
            raise InvalidParameterError(field, "must be a list of rules")
        return [parse_rule(item, f"{field}[{index}]").to_dict() for index, item in enumerate(data)]
    except InvalidParameterError as exc:
        raise ApplicationError(
            f"Invalid rule: {exc.message}.", code="validation_error", fields={_client_field(exc.field): [exc.message]}
        ) from None


def enforced_rules(*, text: str, rules: Iterable[Mapping[str, Any]] | None, rule_recognition: bool) -> list[dict]:
    """The rules decoding keeps for a principle: its explicit ones, else the recognised ones (when allowed)."""
    explicit = list(rules or [])
    if explicit:
        return [dict(rule) for rule in explicit]
    if not rule_recognition:
        return []
    return [rule.to_dict() for rule in recognise_rules(text)]


def steered(*, text: str, enforced_as: list[dict[str, Any]]) -> bool:
    """Whether the principle's text also steers by Linear Alignment: the engine keeps a principle whose every
    sentence states a rule it holds by its rules alone (`alignment_engine.Principle.steered`)."""
    try:
        return Principle(text, rules=tuple(enforced_as)).steered
    except InvalidParameterError:
        return True


def rules_compatible_with(
    *, rules: list[dict[str, Any]], others: Iterable[tuple[int, list[dict[str, Any]]]], field: str = "rules"
) -> None:
    """Refuse (409, naming the other principle) rules that no reply could keep together, among themselves or with
    the rules of the user's other active principles: every request would then be refused before decoding."""
    if not rules:
        return
    combined, owners = list(rules), [None] * len(rules)
    for principle_id, other_rules in others:
        combined.extend(other_rules)
        owners.extend([principle_id] * len(other_rules))
    try:
        check_compatible(parse_rules(combined, field=field), field=field)
    except InvalidParameterError as exc:
        position = re.search(r"\[(\d+)\]", exc.field)
        culprit = owners[int(position.group(1))] if position and int(position.group(1)) < len(owners) else None
        where = f" with principle {culprit}" if culprit is not None else ""
        raise Conflict(
            f"These rules cannot be kept together{where}: {exc.message}.",
            code="rule_conflict",
            fields={field: [exc.message]},
        ) from None
