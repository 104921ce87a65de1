"""The API's JSON parser: what PostgreSQL and the services cannot take is refused as 400 here.

Python's json module (and DRF's parser on top of it) keeps the last of duplicate keys, reads
NaN and Infinity, and lets a 10,000-level nested body end in a RecursionError (a 500). This
parser refuses all three, and strings with a NUL character (PostgreSQL stores none), before
any view or serializer sees the body.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from curator.json_values import strict_json_loads


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
