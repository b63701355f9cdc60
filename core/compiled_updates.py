"""Hot updates compiled once: the SQL of a fixed-shape `queryset.update(...)`, run again with new values.

The submission's first statement finds the user's conversation, locks it and records the activity in one UPDATE
(a title from the first message where it has none, `updated_at`). Django builds that statement anew on every
call: the filter, the `Case`/`When` expression resolved against the query, the SET clause; cProfile put it at
about a tenth of the submission's CPU. A `CompiledUpdate` compiles it as `core.compiled_queries.CompiledLookup`
compiles a lookup: twice, with two sets of random markers that must give the same SQL and differ only at the
markers; then each call only puts its values in place of the markers. Where that cannot be shown (a marker
prepared into another form, as SQLite does with UUIDs and datetimes), the queryset's own `update()` runs.

An update that touches other tables (a filter across a relation, fields of a parent model) can need more than one
statement, or a read before it on some databases: it is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from django.db import connections, transaction
from django.db.models import QuerySet
from django.db.models.sql import UpdateQuery

from core.compiled_queries import CompiledOnce, MarkedCompile, marker_for


class _CompiledUpdate(NamedTuple):
    sql: str
    params: tuple[Any, ...]
    slots: dict[str, int]


class CompiledUpdate(CompiledOnce[_CompiledUpdate]):
    """`build(**values)` returns `(queryset, updates)`; `parameters` names each value and its type.
    `compiled.update(name=value, ...)` updates and counts the rows as `queryset.update(**updates)` would. A value
    of another type than declared (or a naive datetime) runs the queryset's `update()`."""

    def __init__(self, build: Callable[..., tuple[QuerySet, dict[str, Any]]], **parameters: type):
        super().__init__(build, **parameters)

    def update(self, *, using: str = "default", **values: Any) -> int:
        compiled = self._compiled_for(using, values)
        if compiled is None:
            queryset, updates = self._build(**values)
            return queryset.using(using).update(**updates)
        with transaction.mark_for_rollback_on_error(using=using), connections[using].cursor() as cursor:
            cursor.execute(compiled.sql, self._params(compiled, values))
            return cursor.rowcount

    def _compile(self, using: str) -> _CompiledUpdate | None:
        compiled = self._compiled_twice(using)
        if compiled is None:
            return None
        (sql, params, _, _), slots = compiled
        return _CompiledUpdate(sql, params, slots)

    def _compiled_with_markers(self, using: str) -> MarkedCompile:
        """The statement `QuerySet.update` would run (its first steps, for a queryset without slicing,
        ordering or annotations)."""
        markers = {name: marker_for(kind) for name, kind in self._parameters.items()}
        queryset, updates = self._build(**markers)
        source = queryset.using(using).query
        if source.is_sliced or source.order_by or source.annotations or source.combinator:
            raise TypeError("a CompiledUpdate updates a plain filtered queryset (no slice, ordering or annotations)")
        query = source.chain(UpdateQuery)
        query.add_update_values(updates)
        query.clear_select_clause()
        query.get_initial_alias()
        # Checked before the compiler's setup, which reads the rows to update first on some databases otherwise.
        if query.related_updates or query.count_active_tables() != 1:
            raise TypeError("a CompiledUpdate updates one table, filtered on its own columns")
        sql, params = query.get_compiler(using=using).as_sql()
        return MarkedCompile(sql, tuple(params), markers, None)
