"""Hot lookups compiled once: the SQL of a fixed-shape queryset, run again with new values.

Django compiles a queryset to SQL every time it is evaluated. For a lookup by key of a wide row that costs more
CPU than running it: the job a client polls (`GET /jobs/{id}/`, 33 columns and its reply's 5) spent about 40% of
its request in building the filter, `as_sql` and the result converters (56% with running the query and making
the instances; cProfile, CPU clock). A `CompiledLookup` builds its queryset once per database with a marker
value for each parameter, keeps the SQL, the converters and the row layout, and then only swaps the parameter values
in and turns rows into instances the way Django's ModelIterable does
(`from_db`, then select_related's populators).

The markers are found in the compiled parameters by value, compiling twice with different markers: where a
database prepares a value into another form (SQLite stores a UUID as hex text), a marker does not appear exactly
once, or the values change the SQL, the lookup is not compiled for that database and runs the queryset. Values
the build function computes itself (not parameters) are fixed when it compiles. Parameters are ints, UUIDs, text
and aware datetimes. A text marker holds the characters a pattern lookup escapes (`%`, `_`, `\\`), so a lookup
that escapes its value (`contains`, or `iexact` on SQLite) shows it by changing the marker, and runs its queryset.
What a marker cannot show is a preparation that depends on the value itself: declare a text parameter only for a
text column (CharField, TextField; not an IP address, which is normalised, or a field that stores "" as NULL).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, NamedTuple, TypeVar

from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators

from core.row_memo import MISSING, RowMemo

T = TypeVar("T")  # a model instance, or a tuple of values_list()
D = TypeVar("D")  # what a caller derives from one
C = TypeVar("C")  # a compiled statement: its sql, params and slots (marker name -> position in params)


MARKER_KINDS = (int, uuid.UUID, str, datetime)


def marker_for(kind: type) -> Any:
    """A random value of `kind`, to be found among the compiled parameters. An int lies within every integer
    field's range (small and positive ones included): Django compiles a value outside a field's range into no
    condition at all, or into an empty result. A text marker holds what a LIKE pattern escapes, so an escaped
    value cannot pass for a verbatim one; a datetime is aware (Django makes a naive one aware, a change)."""
    if kind is uuid.UUID:
        return uuid.uuid4()
    if kind is int:
        return 1000 + uuid.uuid4().int % 30000
    if kind is str:
        return f"%_\\{uuid.uuid4().hex}"
    if kind is datetime:
        return datetime(2001, 1, 1, tzinfo=UTC) + timedelta(microseconds=uuid.uuid4().int % 10**15)
    raise TypeError(f"no marker for {kind.__name__} parameters (only {', '.join(k.__name__ for k in MARKER_KINDS)})")


def value_fits(kind: type, value: Any) -> bool:
    """Whether a call's value may take its marker's place: of the declared type exactly (a str subclass, a
    date for a datetime, a bool for an int would not compile the same), and aware where a datetime."""
    return type(value) is kind and (kind is not datetime or value.utcoffset() is not None)


def markers_compilable(connection, parameters: dict[str, type]) -> bool:
    """Oracle compiles an empty string into IS NULL: a text marker cannot stand for every text there."""
    return str not in parameters.values() or not connection.features.interprets_empty_strings_as_nulls


def marker_slots(
    compiled: tuple[tuple[Any, ...], dict[str, Any]], again: tuple[tuple[Any, ...], dict[str, Any]]
) -> dict[str, int] | None:
    """Where each marker lies among the parameters of two compiles of one statement (parameters, markers), or
    None: a marker not found exactly once (prepared into another form, used twice, or equal to a constant), not
    where the other compile's marker is, or another parameter that differs between the two."""
    (params, markers), (other_params, other_markers) = compiled, again
    if len(params) != len(other_params):
        return None
    slots = {}
    for name, marker in markers.items():
        positions = [index for index, param in enumerate(params) if type(param) is type(marker) and param == marker]
        if len(positions) != 1 or other_params[positions[0]] != other_markers[name]:
            return None
        slots[name] = positions[0]
    if any(
        a != b for index, (a, b) in enumerate(zip(params, other_params, strict=True)) if index not in slots.values()
    ):
        return None
    return slots


def row_converted(row: tuple, converters: dict[int, tuple[list[Callable], Any]], connection) -> list[Any]:
    """A row's values through the converters a compiler gave for its columns (`get_converters`), as Django's
    `apply_converters` does."""
    values = list(row)
    for position, (column_converters, expression) in converters.items():
        value = values[position]
        for converter in column_converters:
            value = converter(value, expression, connection)
        values[position] = value
    return values


class MarkedCompile(NamedTuple):
    """One compile of a statement with markers for its parameters."""

    sql: str
    params: tuple[Any, ...]
    markers: dict[str, Any]
    extra: Any  # what the statement's kind keeps from its compiler


class _RowLayout(NamedTuple):
    """What Django's ModelIterable derives from the compiler for every evaluation, derived once."""

    model_class: type
    start: int  # the model's columns: row[start:end]
    end: int
    init_list: list[str]
    populators: list  # select_related's RelatedPopulators (their settings only; nothing per row is kept)
    annotation_col_map: dict[str, int]


class _Compiled(NamedTuple):
    sql: str
    params: tuple[Any, ...]
    slots: dict[str, int]  # parameter name -> its position in params
    converters: dict[int, tuple[list[Callable], Any]]
    rows: _RowLayout | None  # how a row becomes an instance; None: values_list(), rows stay tuples


class CompiledOnce(Generic[C]):
    """What a compiled lookup and a compiled update share: parameters named and typed, a statement compiled once
    per database (by `_compile`), and the call's values put in place of its markers."""

    def __init__(self, build: Callable[..., Any], **parameters: type):
        self._build = build
        self._parameters = parameters
        self._compiled: dict[tuple[str, str], C | None] = {}

    def _compile(self, using: str) -> C | None:
        raise NotImplementedError

    def _compiled_with_markers(self, using: str) -> MarkedCompile:
        raise NotImplementedError

    def _compiled_twice(self, using: str) -> tuple[MarkedCompile, dict[str, int]] | None:
        """The first of two compiles with two sets of markers, and where each marker lies in its parameters; None
        where the two disagree: the values change the SQL, or a marker is prepared into another form, used twice
        or equal to a constant (then the ORM's path is taken)."""
        if not markers_compilable(connections[using], self._parameters):
            return None
        first, second = (self._compiled_with_markers(using) for _ in range(2))
        slots = marker_slots((first.params, first.markers), (second.params, second.markers))
        if first.sql != second.sql or slots is None:
            return None
        return first, slots

    def _compiled_for(self, using: str, values: dict[str, Any]) -> C | None:
        """The statement compiled for this database (on first use), or None where these values take the ORM's
        path: the statement could not be compiled there, or a value is not of its declared type."""
        if values.keys() != self._parameters.keys():
            raise TypeError(f"expected the parameters {sorted(self._parameters)}, got {sorted(values)}")
        key = (using, connections[using].vendor)
        if key not in self._compiled:
            self._compiled[key] = self._compile(using)
        compiled = self._compiled[key]
        if compiled is None or not all(value_fits(kind, values[name]) for name, kind in self._parameters.items()):
            return None
        return compiled

    @staticmethod
    def _params(compiled: C, values: dict[str, Any]) -> list[Any]:
        params = list(compiled.params)
        for name, position in compiled.slots.items():
            params[position] = values[name]
        return params


class CompiledLookup(CompiledOnce[_Compiled], Generic[T]):
    """`build(**values)` returns the queryset (of model instances, or of tuples from `values_list(...)` of plain
    fields); `parameters` names each value and its type. `lookup.all(name=value, ...)` returns what
    `list(build(...))` would. A value of another type than declared runs the queryset."""

    def __init__(self, build: Callable[..., QuerySet], **parameters: type):
        super().__init__(build, **parameters)

    def all(self, *, using: str = "default", **values: Any) -> list[T]:
        compiled = self._compiled_for(using, values)
        if compiled is None:
            return list(self._build(**values).using(using))
        return self._results(compiled, self._raw_rows(compiled, values, using), using)

    def first(self, *, using: str = "default", **values: Any) -> T | None:
        """The first row (an instance or a tuple), or None (build a queryset of at most one row: `[:1]`)."""
        found = self.all(using=using, **values)
        return found[0] if found else None

    def first_derived(
        self,
        derive: Callable[[T], D],
        memo: RowMemo[D],
        *,
        context: Hashable = None,
        using: str = "default",
        **values: Any,
    ) -> D | None:
        """`derive(first row)`, or None where there is no row: the query runs every time, and where it returns
        the very row it returned last for these values and this `context`, what was derived from it then is
        given again (`memo`, core.row_memo: `derive` depends on the row and `context` alone, and its result is
        shared). Where the lookup takes the queryset's path, `derive` runs every time."""
        compiled = self._compiled_for(using, values)
        if compiled is None:
            found = self.all(using=using, **values)
            return derive(found[0]) if found else None
        rows = self._raw_rows(compiled, values, using)
        if not rows:
            return None
        key = (using, context, *(values[name] for name in self._parameters))
        derived = memo.get(key, rows[0])
        if derived is MISSING:
            derived = derive(self._results(compiled, rows[:1], using)[0])
            memo.put(key, rows[0], derived)
        return derived

    def _raw_rows(self, compiled: _Compiled, values: dict[str, Any], using: str) -> list[tuple]:
        """The rows as the database driver returns them, before any converter."""
        with connections[using].cursor() as cursor:
            cursor.execute(compiled.sql, self._params(compiled, values))
            return cursor.fetchall()

    def _results(self, compiled: _Compiled, rows: list[tuple], using: str) -> list:
        """Raw rows converted, then made into instances (or left tuples, for a values_list())."""
        rows = self._converted(compiled, rows, connections[using])
        return rows if compiled.rows is None else self._instances(compiled.rows, rows, using)

    def _compile(self, using: str) -> _Compiled | None:
        compiled = self._compiled_twice(using)
        if compiled is None:
            return None
        (sql, params, _, (compiler, tuples)), slots = compiled
        fields = [selected[0] for selected in compiler.select[0 : compiler.col_count]]
        converters = compiler.get_converters(fields)
        return _Compiled(sql, params, slots, converters, None if tuples else self._row_layout(compiler, using))

    @staticmethod
    def _row_layout(compiler, using: str) -> _RowLayout:
        klass_info = compiler.klass_info
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        return _RowLayout(
            model_class=klass_info["model"],
            start=start,
            end=end,
            init_list=[selected[0].target.attname for selected in compiler.select[start:end]],
            populators=get_related_populators(klass_info, compiler.select, using),
            annotation_col_map=dict(compiler.annotation_col_map),
        )

    def _compiled_with_markers(self, using: str) -> MarkedCompile:
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
        if compiler.has_extra_select:  # e.g. distinct() ordered by a column it does not select
            raise TypeError("a CompiledLookup selects only what it returns (no ordering by other columns here)")
        return MarkedCompile(sql, tuple(params), markers, (compiler, tuples))

    @staticmethod
    def _converted(compiled: _Compiled, rows: list[tuple], connection) -> list[tuple]:
        if not compiled.converters:
            return rows
        return [tuple(row_converted(row, compiled.converters, connection)) for row in rows]

    @staticmethod
    def _instances(layout: _RowLayout, rows: list[tuple], using: str) -> list[T]:
        instances = []
        for row in rows:
            instance = layout.model_class.from_db(using, layout.init_list, row[layout.start : layout.end])
            for populator in layout.populators:
                populator.populate(row, instance)
            for attribute, position in layout.annotation_col_map.items():
                setattr(instance, attribute, row[position])
            instances.append(instance)
        return instances
