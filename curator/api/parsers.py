"""The API's JSON parser: what PostgreSQL and the services cannot take is refused as 400 here.

Python's json module (and DRF's parser on top of it) keeps the last of duplicate keys, reads
NaN and Infinity, and lets a 10,000-level nested body end in a RecursionError (a 500). This
parser refuses all three, and strings with a NUL character (PostgreSQL stores none), before
any view or serializer sees the body.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Deeper than any body of this API (a label value or a settings document is a few levels).
MAX_DEPTH = 64


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def strict_json_loads(text: str) -> Any:
    """json.loads refusing duplicate keys, NaN/Infinity, deep nesting and NUL characters;
    raises ValueError with the reason."""
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    check_value(data)
    return data


def check_value(data: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH and NUL characters, walking without recursion."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("text must not contain NUL characters")
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if "\x00" in key:
                    raise ValueError("keys must not contain NUL characters")
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


class StrictJSONParser(JSONParser):
    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
            return strict_json_loads(text)
        except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise ParseError(f"JSON parse error - {error}") from None
