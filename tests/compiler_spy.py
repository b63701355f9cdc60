"""A spy on one of Django's SQL compilers: which statements the ORM compiled."""

from __future__ import annotations


def compiles(monkeypatch, compiler_class) -> list[int]:
    """One entry per statement `compiler_class` (SQLCompiler, SQLInsertCompiler, ...) compiles from now on."""
    calls: list[int] = []
    original = compiler_class.as_sql

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(compiler_class, "as_sql", counting)
    return calls
