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


@contextmanager
def nested_field_errors(name: str) -> Iterator[None]:
    """Errors about the fields of the object input `name` become errors about `name.field`
    (`settings.overlap`), so an API body with nested objects points at the exact value."""
    try:
        yield
    except ValidationError as error:
        if not hasattr(error, "error_dict"):
            raise ValidationError({name: error.messages}) from None
        raise ValidationError(
            {f"{name}.{field}": messages for field, messages in error.message_dict.items()}
        ) from None
