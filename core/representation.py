"""Output serializers that read their fields the way DRF does, with the per-field decisions made once.

DRF's `Serializer.to_representation` asks each field, for each object, to find its value: it walks the field's
source path, checks for a mapping, a missing related object and a callable, then converts the value. For a job
(27 fields, three nested serializers) that was most of the serializer's time. `CompiledRepresentation` decides
once per set of bound fields which fields read a plain attribute or key, and which of those already hold the
output's own type (a str for a CharField, an int for an IntegerField, a float for a FloatField, a bool for a
BooleanField: DRF's conversion would return an equal value). Every other case goes through DRF's own code:
a source of `*` or a dotted path, a field with its own `get_attribute` (related fields), a missing attribute or
key (DRF's default, null or skip), a callable value, any other type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from rest_framework import fields as drf_fields
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject

# Field classes whose to_representation returns a value of this exact type unchanged.
_UNCHANGED = {
    drf_fields.CharField: str,
    drf_fields.IntegerField: int,
    drf_fields.FloatField: float,
    drf_fields.BooleanField: bool,
}
_NOT_READ = object()

Step = tuple[str, "str | None", drf_fields.Field, "type | None"]


def _plan(fields) -> tuple[Step, ...]:
    steps = []
    for field in fields.values():
        if field.write_only:
            continue
        attrs = field.source_attrs
        plain = len(attrs) == 1 and type(field).get_attribute is drf_fields.Field.get_attribute
        steps.append((field.field_name, attrs[0] if plain else None, field, _UNCHANGED.get(type(field))))
    return tuple(steps)


# Mixed in before a DRF Serializer class. (A comment, not a docstring: drf-spectacular would publish that as the
# description of every schema component made from a subclass.)
class CompiledRepresentation:
    def to_representation(self, instance: Any) -> dict[str, Any]:
        fields = self.fields
        plan = getattr(fields, "_representation_plan", None)
        if plan is None:
            plan = fields._representation_plan = _plan(fields)
        is_mapping = isinstance(instance, Mapping)
        ret: dict[str, Any] = {}
        for name, attr, field, unchanged in plan:
            value = _NOT_READ
            if attr is not None:
                try:
                    value = instance[attr] if is_mapping else getattr(instance, attr)
                except ObjectDoesNotExist:  # as DRF: a missing related object reads as None
                    value = None
                except (KeyError, AttributeError):  # DRF's answer: the field's default, null, or skipped
                    value = _NOT_READ
                else:
                    if callable(value):  # DRF calls it (and words its errors): its own path
                        value = _NOT_READ
            if value is _NOT_READ:
                try:
                    value = field.get_attribute(instance)
                except SkipField:
                    continue
                empty = (value.pk if isinstance(value, PKOnlyObject) else value) is None
                ret[name] = None if empty else field.to_representation(value)
            elif value is None:
                ret[name] = None
            elif unchanged is not None and type(value) is unchanged:
                ret[name] = value
            else:
                ret[name] = field.to_representation(value)
        return ret
