"""Hot lookups compiled once: the SQL of a fixed-shape queryset, run again with new values.

Django compiles a queryset to SQL every time it is evaluated. For a lookup by key of a wide row that costs more
CPU than running it: the job a client polls (`GET /jobs/{id}/`, 38 columns and its reply's) spent about 40% of
its request in building the filter, `as_sql` and the result converters. A `CompiledLookup` builds its queryset
once per database with a marker value for each parameter, keeps the SQL and the compiler's row layout, and then
only swaps the parameter values in and turns rows into instances the way Django's ModelIterable does
(`from_db`, then select_related's populators).

The markers are found in the compiled parameters by value. Where a database prepares a value into another form
(SQLite stores a UUID as hex text) or a marker does not appear exactly once, the lookup is not compiled for
that database and simply runs the queryset, so the result never depends on the shortcut.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators

T = TypeVar("T")  # a model instance, or a tuple of values_list()


def marker_for(kind: type) -> Any:
    """A value of `kind` that no real lookup uses, so it can be found among the compiled parameters."""
    if kind is uuid.UUID:
        return uuid.uuid4()
    if kind is int:
        # Negative (no sequence gives it) and within a 32-bit column's range (Django finds nothing for a value
        # outside a field's range, so it would compile no SQL).
        return -(2**30) - uuid.uuid4().int % 2**30
    if kind is str:
        return f"compiled-lookup-marker-{uuid.uuid4().hex}"
    raise TypeError(f"no marker for {kind.__name__} parameters")


class _Compiled(NamedTuple):
    sql: str
    params: tuple[Any, ...]
    slots: dict[str, int]  # parameter name -> its position in params
    compiler: Any  # the SQLCompiler that compiled it: select, klass_info, annotation_col_map
    converters: dict[int, tuple[list[Callable], Any]]
    tuples: bool  # values_list(): rows as tuples, not instances


class CompiledLookup(Generic[T]):
    """`build(**values)` returns the queryset (of model instances, or of tuples from `values_list(...)` of plain
    fields); `parameters` names each value and its type. `lookup.all(name=value, ...)` returns what
    `list(build(...))` would. A value of another type than declared runs the queryset."""

    def __init__(self, build: Callable[..., QuerySet], **parameters: type):
        self._build = build
        self._parameters = parameters
        self._compiled: dict[tuple[str, str], _Compiled | None] = {}

    def all(self, *, using: str = "default", **values: Any) -> list[T]:
        if values.keys() != self._parameters.keys():
            raise TypeError(f"expected the parameters {sorted(self._parameters)}, got {sorted(values)}")
        connection = connections[using]
        key = (using, connection.vendor)
        if key not in self._compiled:
            self._compiled[key] = self._compile(using)
        compiled = self._compiled[key]
        if compiled is None or any(type(values[name]) is not kind for name, kind in self._parameters.items()):
            return list(self._build(**values).using(using))
        params = list(compiled.params)
        for name, position in compiled.slots.items():
            params[position] = values[name]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        rows = self._converted(compiled, rows, connection)
        return rows if compiled.tuples else self._instances(compiled, rows, using)

    def first(self, *, using: str = "default", **values: Any) -> T | None:
        """The first row (an instance or a tuple), or None (build a queryset of at most one row: `[:1]`)."""
        found = self.all(using=using, **values)
        return found[0] if found else None

    def _compile(self, using: str) -> _Compiled | None:
        markers = {name: marker_for(kind) for name, kind in self._parameters.items()}
        queryset = self._build(**markers).using(using)
        tuples = queryset._iterable_class is ValuesListIterable
        plain_values = tuples and not queryset.query.annotation_select and not queryset.query.extra_select
        if not (queryset._iterable_class is ModelIterable or plain_values) or queryset._prefetch_related_lookups:
            raise TypeError(
                "a CompiledLookup builds a queryset of model instances or a values_list() of fields "
                "(no annotations, no prefetch_related)"
            )
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        slots = {}
        for name, marker in markers.items():
            positions = [index for index, param in enumerate(params) if type(param) is type(marker) and param == marker]
            if len(positions) != 1:
                return None  # prepared into another form on this database, or used twice: run the queryset
            slots[name] = positions[0]
        fields = [selected[0] for selected in compiler.select[0 : compiler.col_count]]
        return _Compiled(sql, tuple(params), slots, compiler, compiler.get_converters(fields), tuples)

    @staticmethod
    def _converted(compiled: _Compiled, rows: list[tuple], connection) -> list[tuple]:
        if not compiled.converters:
            return rows
        converted = []
        for row in rows:
            row = list(row)
            for position, (converters, expression) in compiled.converters.items():
                value = row[position]
                for converter in converters:
                    value = converter(value, expression, connection)
                row[position] = value
            converted.append(tuple(row))
        return converted

    @staticmethod
    def _instances(compiled: _Compiled, rows: list[tuple], using: str) -> list[T]:
        compiler = compiled.compiler
        klass_info = compiler.klass_info
        select_fields = klass_info["select_fields"]
        start, end = select_fields[0], select_fields[-1] + 1
        init_list = [selected[0].target.attname for selected in compiler.select[start:end]]
        populators = get_related_populators(klass_info, compiler.select, using)
        model_class = klass_info["model"]
        instances = []
        for row in rows:
            instance = model_class.from_db(using, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, instance)
            for attribute, position in compiler.annotation_col_map.items():
                setattr(instance, attribute, row[position])
            instances.append(instance)
        return instances
