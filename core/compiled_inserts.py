"""Hot inserts compiled once: `Model.objects.create(**values)` with the INSERT's SQL built once per database.

Django builds an INSERT from scratch on every `create()`: an InsertQuery, its compiler, the quoted column list,
a placeholder per field, the RETURNING clause and its converters. For the job a submission stores (33 columns)
that was most of the insert's CPU, and the submission's two inserts were a sixth of its request (py-spy on
the web workers under load, GIL-holding samples). A `CompiledInsert` keeps that SQL per database and per
"primary key given or not" (which decides whether an auto primary key column is in the list), and on each call
only does what depends on the values: each field's `pre_save` (auto_now_add, defaults) and `get_db_prep_save`,
with the signals, the related-object checks and the transaction handling of `Model.save_base`.

The SQL only depends on the values where a value is an expression (`Now()`, a database default) or a field makes
its own placeholder (binary, array, range and geometry fields): a model with such a field is refused, one with a
database default (`db_default`) always takes `save()`, and a call with an expression value takes Django's own
insert. Models with parents (multi-table inheritance), proxies, `order_with_respect_to` and composite primary keys
are refused. A database that cannot return columns from an INSERT runs `save()`. The database is the one named
(`using`, "default" unless given): no router is asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

from django.db import connections, models, transaction
from django.db.models import signals
from django.db.models.sql import InsertQuery

from core.compiled_queries import row_converted

M = TypeVar("M", bound=models.Model)


class _Insert(NamedTuple):
    sql: str
    fields: list[models.Field]
    returning_fields: list[models.Field]
    converters: dict[int, tuple[list[Callable], Any]]


class CompiledInsert(Generic[M]):
    """`insert.create(**values)` stores and returns what `Model.objects.create(**values)` would."""

    def __init__(self, model: type[M]):
        meta = model._meta
        refused = [
            reason
            for reason, applies in (
                ("has parents (multi-table inheritance)", bool(meta.parents)),
                ("is a proxy", meta.proxy),
                ("is ordered with respect to another model", bool(meta.order_with_respect_to)),
                ("has a composite primary key", getattr(meta, "is_composite_pk", False)),
                (
                    "has a field that makes its own placeholder",
                    any(hasattr(field, "get_placeholder") for field in meta.local_concrete_fields),
                ),
            )
            if applies
        ]
        if refused:
            raise TypeError(f"a CompiledInsert cannot store {model.__name__}: it {', '.join(refused)}")
        self.model = model
        self._compiled: dict[tuple[str, str, bool], _Insert | None] = {}

    def create(self, *, using: str = "default", **values: Any) -> M:
        reverse_one_to_one = frozenset(values) & self.model._meta._reverse_one_to_one_field_names
        if reverse_one_to_one:  # as QuerySet.create refuses them
            names = ", ".join(sorted(reverse_one_to_one))
            raise ValueError(f"The following fields do not exist in this model: {names}")
        instance = self.model(**values)
        instance._prepare_related_fields_for_save(operation_name="save")
        meta = self.model._meta
        if getattr(instance, meta.pk.attname) is None:
            setattr(instance, meta.pk.attname, meta.pk.get_pk_value_on_save(instance))
        pk_given = getattr(instance, meta.pk.attname) is not None
        connection = connections[using]
        key = (using, connection.vendor, pk_given)
        if key not in self._compiled:
            self._compiled[key] = self._compile(using, pk_given)
        compiled = self._compiled[key]
        if compiled is None:
            instance.save(force_insert=True, using=using)
            return instance
        signals.pre_save.send(sender=self.model, instance=instance, raw=False, using=using, update_fields=None)
        with transaction.mark_for_rollback_on_error(using=using):
            params = self._params(compiled, instance, connection)
            if params is None:  # an expression among the values: the SQL depends on it, Django's own path
                instance._save_table(cls=self.model, force_insert=True, using=using)
            else:
                with connection.cursor() as cursor:
                    cursor.execute(compiled.sql, params)
                    returned = cursor.fetchone() if compiled.returning_fields else None
                if returned is not None:
                    self._returned_set(compiled, instance, returned, connection)
        instance._state.db = using
        instance._state.adding = False
        signals.post_save.send(
            sender=self.model, instance=instance, created=True, update_fields=None, raw=False, using=using
        )
        return instance

    @staticmethod
    def _params(compiled: _Insert, instance: M, connection) -> list[Any] | None:
        """Each field's value as the database takes it (after `pre_save`: auto_now_add, and the like), or None
        where a value is an expression."""
        params = []
        for field in compiled.fields:
            value = field.pre_save(instance, True)
            if hasattr(value, "resolve_expression"):
                return None
            params.append(field.get_db_prep_save(value, connection=connection))
        return params

    @staticmethod
    def _returned_set(compiled: _Insert, instance: M, returned: tuple, connection) -> None:
        values = row_converted(returned, compiled.converters, connection)
        for value, field in zip(values, compiled.returning_fields, strict=True):
            setattr(instance, field.attname, value)

    def _compile(self, using: str, pk_given: bool) -> _Insert | None:
        """The INSERT of every concrete field (the auto primary key only when given), as `Model._save_table`
        lists them, with the RETURNING clause of the fields the database fills in."""
        connection = connections[using]
        meta = self.model._meta
        fields = [field for field in meta.local_concrete_fields if not field.generated]
        if not connection.features.can_return_columns_from_insert or any(field.has_db_default() for field in fields):
            return None  # a database default is an expression in the SQL, compiled from the prototype's value
        if not pk_given:
            fields = [field for field in fields if field is not meta.auto_field]
        returning_fields = list(meta.db_returning_fields)
        query = InsertQuery(self.model)
        query.insert_values(fields, [self.model()])
        compiler = query.get_compiler(using=using)
        compiler.returning_fields = returning_fields
        # The SQL of a row of plain values: one "%s" per field whatever the values are (no field here makes its
        # own placeholder), so the prototype's values do not matter; a backend that adds parameters of its own
        # to the RETURNING clause (Oracle) is not compiled.
        statements = compiler.as_sql()
        if len(statements) != 1 or compiler.returning_params:
            return None
        sql, params = statements[0]
        if len(params) != len(fields):
            return None
        columns = [field.get_col(meta.db_table) for field in returning_fields]
        return _Insert(sql, fields, returning_fields, compiler.get_converters(columns))
