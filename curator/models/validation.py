"""Naming the input a validation error is about, so every interface can point at it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError


@contextmanager
def field_errors(name: str) -> Iterator[None]:
    """A ValidationError raised inside without a field becomes one about the input `name`
    (the API answers `{name: [messages]}`; `error.messages` reads the same either way)."""
    try:
        yield
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            raise
        raise ValidationError({name: error.messages}) from None
