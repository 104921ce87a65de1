"""Model instances from hand-written SQL: the few statements every label pays for (the API
token read, the project with the caller's role, the caller's live lease, the caller's
assignment read, the submit and the claim) are written out once instead of compiled by the ORM
on every request (the compiling cost more server time than PostgreSQL spent answering), and
their rows are turned back into instances here, converted as a queryset would."""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import psycopg
from django.db import connection, models
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

M = TypeVar("M", bound=models.Model)


def columns(model: type[models.Model], alias: str) -> str:
    """The model's concrete columns, qualified by `alias`, in `from_row`'s order."""
    return ", ".join(f"{alias}.{field.column}" for field in model._meta.concrete_fields)


def width(model: type[models.Model]) -> int:
    return len(model._meta.concrete_fields)


def from_row(model: type[M], values: tuple | list) -> M:
    """An instance from its concrete columns' raw values, converted as a queryset would (the
    backend's converters, e.g. SQLite's text datetimes, then the fields' own, e.g. JSON)."""
    converted = [
        _convert(value, column, converters)
        for value, (column, converters) in zip(values, _converters(model), strict=True)
    ]
    return model.from_db(connection.alias, _attnames(model), converted)


def _convert(value: Any, column: Any, converters: list) -> Any:
    for converter in converters:
        value = converter(value, column, connection)
    return value


@functools.cache
def _converters(model: type[models.Model]) -> list[tuple[Any, list]]:
    out = []
    for field in model._meta.concrete_fields:
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        out.append((column, converters))
    return out


@functools.cache
def _attnames(model: type[models.Model]) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def prepared_cursor() -> Any:
    """A cursor whose statements PostgreSQL plans once per connection (server-side binding,
    prepared on first use; psycopg forgets them after any rollback, savepoints included, and
    prepares them again): for the few hand-written statements every label runs, planning
    cost more database time than executing (the claim: about 1 ms of 2). Django's cursors bind
    parameters client-side and cannot prepare. Elsewhere (SQLite), an ordinary cursor."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    # As Django's own cursor() does: a pooled connection that died (a PostgreSQL restart) is
    # replaced, not used.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = _Prepared(connection.connection)
    # Django's wrapper keeps its error translation, broken-transaction check and query log.
    if not connection.queries_logged:
        return CursorWrapper(raw, connection)
    raw.keeps_query_text = True
    return CursorDebugWrapper(raw, connection)


class _Prepared(psycopg.Cursor):
    keeps_query_text = False

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        done = super().execute(query, params, prepare=True, **kwargs)
        if self.keeps_query_text and self._query is None:
            # psycopg keeps no query for a prepared execution, and Django's query log (debug,
            # tests counting statements) reads the text from there.
            self._query = self._convert_query(query, params)
        return done
