"""Export helpers. No Django here."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

# A cell starting with one of these is run as a formula by spreadsheet programs (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
# Quotes, then a trigger: the cells that get (or, read back, lose) one leading quote. Counting
# quotes already there keeps the rule reversible: "'=x" is written "''=x" and reads back "'=x".
_QUOTED = re.compile(r"'*[=+\-@\t\r\n]")


def neutralise(value: Any) -> str:
    """Text a spreadsheet shows as text: a leading quote defuses formula characters. Every CSV
    curator writes (the web records CSV, the API and command-line exports) goes through here."""
    text = "" if value is None else str(value)
    return "'" + text if _QUOTED.match(text) else text


def unneutralise(text: str) -> str:
    """The cell `neutralise` was given: a CSV export imports back unchanged."""
    return text[1:] if text.startswith("'") and _QUOTED.match(text, 1) else text


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """CSV text, one line at a time, every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([neutralise(cell) for cell in row])
        yield buffer.getvalue()
