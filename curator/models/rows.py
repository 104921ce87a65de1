"""Model instances from hand-written SQL: the few statements every label pays for (the API
token read, the caller's assignment read, the submit and the claim) are written out once
instead of compiled by the ORM on every request (the compiling cost more server time than
PostgreSQL spent answering), and their rows are turned back into instances here, converted as
a queryset would."""

from __future__ import annotations

from typing import TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


def columns(model: type[models.Model], alias: str) -> str:
    """The model's concrete columns, qualified by `alias`, in `from_row`'s order."""
    return ", ".join(f"{alias}.{field.column}" for field in model._meta.concrete_fields)


def width(model: type[models.Model]) -> int:
    return len(model._meta.concrete_fields)


def from_row(model: type[M], values: tuple | list) -> M:
    """An instance from its concrete columns' raw values (JSON decoded, as a queryset would)."""
    fields = model._meta.concrete_fields
    converted = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)
