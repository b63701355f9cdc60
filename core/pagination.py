"""The API's pagination: limit/offset with a ceiling (an unbounded ``limit`` would overflow SQL LIMIT)."""
from rest_framework.pagination import LimitOffsetPagination

MAX_PAGE_SIZE = 200


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_PAGE_SIZE
