"""Django's PostgreSQL backend, with batches that fit one statement when parameters are bound on the server.

With server-side binding (the OPTIONS that DB_PREPARE_THRESHOLD sets, config/settings.py) every statement carries
its parameters in PostgreSQL's protocol, which holds at most 65,535 of them. Django's PostgreSQL backend never
batches by parameters (client-side binding has no such limit): an account deletion's cascade asks for every
related row of 66,000 messages in one `IN (...)`, and the statement fails. This backend sizes the batches Django
already makes (a deletion's cascade, in_bulk, bulk_update, bulk_create where it does not insert with UNNEST) to
that limit, as Django's SQLite and Oracle backends do for theirs; with client-side binding it batches exactly as
Django's own. A prefetch_related has no batches: a reader of more rows than that iterates in chunks
(assistant/account_apis.py, the export).

ENGINE "core.postgresql" (config/settings.py sets it for a postgres:// DATABASE_URL).
"""

from __future__ import annotations

from django.db import models
from django.db.backends.postgresql import base, features, operations

# The protocol's limit on the parameters of one statement (a 16-bit count in the Bind message).
MAX_BOUND_PARAMETERS = 65_535


def binds_on_server(settings_dict: dict) -> bool:
    return bool(settings_dict.get("OPTIONS", {}).get("server_side_binding"))


class DatabaseFeatures(features.DatabaseFeatures):
    @property
    def max_query_params(self) -> int | None:  # Django reads it where a backend has a limit; None: none
        return MAX_BOUND_PARAMETERS if binds_on_server(self.connection.settings_dict) else None


class DatabaseOperations(operations.DatabaseOperations):
    def bulk_batch_size(self, fields, objs) -> int:
        limit = self.connection.features.max_query_params
        if limit is None:
            return super().bulk_batch_size(fields, objs)
        columns = sum(len(field.fields) if isinstance(field, models.CompositePrimaryKey) else 1 for field in fields)
        return max(limit // max(columns, 1), 1)


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
    ops_class = DatabaseOperations
