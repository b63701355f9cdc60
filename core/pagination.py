"""The API's pagination: limit/offset with a ceiling (an unbounded ``limit`` would overflow SQL LIMIT).

DRF's LimitOffsetPagination ignores a value it cannot read (``?offset=null`` lists from the start); here a limit
or offset that is not an integer (or a limit under 1, an offset under 0) is a 400 naming the parameter. A larger
limit than the ceiling is capped, an offset past any table is clamped (an empty page).
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

MAX_PAGE_SIZE = 200
MAX_OFFSET = 10**18 - 1  # fits PostgreSQL's bigint OFFSET


def _query_integer(request: Request, name: str, *, minimum: int, maximum: int) -> int | None:
    """The integer query parameter ``name`` (at most ``maximum``), None when absent; a 400 naming it when it is not
    an integer of at least ``minimum``."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not re.fullmatch(r"[0-9]+", raw) or int(raw) < minimum:
        raise ValidationError({name: [f"Expected an integer of at least {minimum}."]})
    return min(int(raw), maximum)


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_PAGE_SIZE
    limit_query_description = f"Number of results to return per page (at most {MAX_PAGE_SIZE})."

    def get_limit(self, request: Request) -> int:
        limit = _query_integer(request, self.limit_query_param, minimum=1, maximum=self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request: Request) -> int:
        return _query_integer(request, self.offset_query_param, minimum=0, maximum=MAX_OFFSET) or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        minimums = {self.limit_query_param: 1, self.offset_query_param: 0}
        for parameter in parameters:
            minimum = minimums[parameter["name"]]
            parameter["schema"]["minimum"] = minimum
            parameter["description"] += f" (an integer of at least {minimum}; anything else is a 400)."
        return parameters
