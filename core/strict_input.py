"""Input serializers for JSON APIs that take JSON types literally and name what they refuse.

DRF's defaults coerce (``"1.5"`` -> 1.5, ``1`` -> ``"1"``, ``"yes"`` -> True) and drop unknown keys silently;
an API client then never learns it misspelt a field. These refuse both with a 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import parsers, serializers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, plus a 400 (not a 500) for JSON nested deeper than Python's recursion limit."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


class StrictInputSerializer(serializers.Serializer):
    """Rejects keys that are not declared fields."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({str(name): ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string of valid Unicode (a lone surrogate cannot be stored in PostgreSQL)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            raise serializers.ValidationError("Text is not valid Unicode.") from None
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A JSON number; booleans and strings are refused. ``exclusive_minimum=True`` refuses ``min_value`` itself
    (the schema says ``exclusiveMinimum``)."""

    default_error_messages = {"exclusive_minimum": "Ensure this value is greater than {min_value}."}

    def __init__(self, *, exclusive_minimum: bool = False, **kwargs: Any) -> None:
        self.exclusive_minimum = exclusive_minimum
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        try:
            float(data)
        except OverflowError:
            self.fail("invalid")
        value = super().to_internal_value(data)
        if self.exclusive_minimum and self.min_value is not None and value <= self.min_value:
            self.fail("exclusive_minimum", min_value=self.min_value)
        return value


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer; booleans, strings and fractions are refused."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON ``true`` or ``false``."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class QueryBooleanField(serializers.BooleanField):
    """A boolean query parameter: `true` or `false` (any case), nothing else (DRF's own field also takes `null`,
    `yes`, `on`, `1`, ...; the schema says boolean)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", None)
        super().__init__(allow_null=True, **kwargs)

    def to_internal_value(self, data: Any) -> bool:
        text = data.lower() if isinstance(data, str) else data
        if text not in ("true", "false"):
            self.fail("invalid")
        return text == "true"
