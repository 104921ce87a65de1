"""Typed rules for values that arrive as JSON or form text: each rule turns a raw value into a
typed one or raises ValueError with a message for the user.

Project settings (`curator/models/project_settings.py`) and job parameters (`curator/job_kinds/`)
declare their fields with these rules, so a setting and a job parameter of the same shape are
refused the same way, before anything is stored or queued. Pure: no Django.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

Rule = Callable[[Any], Any]

# Seeds and counts fit PostgreSQL's and numpy's 32-bit integers.
MAX_SEED = 2**31 - 1


def whole(low: int, high: int) -> Rule:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be a whole number")
        try:
            number = int(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError("must be a whole number") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def between(low: float, high: float) -> Rule:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError("must be a number") from None
        if not math.isfinite(number) or not low <= number <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return number

    return parse


def optional(rule: Rule) -> Rule:
    """A gate or limit that is off when unset (None, False or an empty string)."""

    def parse_optional(value: Any) -> Any:
        return None if value is None or value is False or value == "" else rule(value)

    return parse_optional


def choice(choices: tuple[str, ...]) -> Rule:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def text(limit: int) -> Rule:
    """Text up to `limit` characters; empty text is None (back to the default)."""

    def parse(value: Any) -> str | None:
        if isinstance(value, dict | list | tuple | bool):
            raise ValueError("must be text")
        result = str(value).strip()
        if len(result) > limit:
            raise ValueError(f"must be at most {limit} characters")
        if "\x00" in result:  # PostgreSQL stores no NUL character
            raise ValueError("must not contain NUL characters")
        return result or None

    return parse


def boolean(value: Any) -> bool:
    # A checkbox posts "on"; JSON and the API give true/false.
    if value in (True, False, "true", "false", "on", "off", "1", "0", 1, 0, ""):
        return value in (True, "true", "on", "1", 1)
    raise ValueError("must be true or false")


def list_of(rule: Rule, most: int) -> Rule:
    def parse(value: Any) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list")
        if len(value) > most:
            raise ValueError(f"must have at most {most} items")
        return [rule(item) for item in value]

    return parse


def mapping(value: Any) -> dict[str, Any]:
    """An object whose inner shape its own checker validates (filter settings, a rubric)."""
    if not isinstance(value, dict):
        raise ValueError("must be an object")
    return dict(value)


def parse_fields(
    rules: Mapping[str, Rule], raw: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Each known key parsed by its rule: (values, errors by field). A None value stays None
    ("the default"); keys without a rule are the caller's business."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in raw.items():
        if key not in rules:
            continue
        if value is None:
            values[key] = None
            continue
        try:
            values[key] = rules[key](value)
        except (TypeError, ValueError, OverflowError, RecursionError) as error:
            errors[key] = str(error) or "invalid value"
    return values, errors
