"""Streaming parsers for uploaded JSONL and CSV files.

They read one line (or CSV row) at a time, so memory stays flat whatever the file size, and they
raise `ImportFormatError` naming the line and the problem at the first bad row. No Django here.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from curator.exporting import unneutralise

SUPPORTED_FORMATS = ("jsonl", "csv", "chatlog")
# A single line beyond this is almost surely not a record (binary data, a whole file on one line).
MAX_LINE_BYTES = 1_000_000
# Keys that steer the import instead of landing in the payload.
LABEL_KEY = "label"


class ImportFormatError(ValueError):
    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class ParsedRow:
    line: int
    payload: dict[str, Any]
    label: Any  # in its stored shape (a string for classification), None when absent


def detect_format(filename: str) -> str:
    lowered = filename.lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith((".csv", ".tsv")):
        return "csv"
    raise ImportFormatError(0, f"cannot tell the format of {filename!r}: use .jsonl or .csv")


def text_lines(binary: IO[bytes]) -> Iterator[tuple[int, str]]:
    """Decode line by line so a bad byte is reported with its line number."""
    for number, raw in enumerate(binary, start=1):
        if len(raw) > MAX_LINE_BYTES:
            raise ImportFormatError(number, f"line is longer than {MAX_LINE_BYTES} bytes")
        if b"\x00" in raw:
            raise ImportFormatError(number, "binary data (NUL byte) is not a text record")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ImportFormatError(
                number, f"not valid UTF-8 (byte {error.start + 1} of the line)"
            ) from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        yield number, text


def json_lines(binary: IO[bytes] | Iterable[bytes]) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each non-blank JSON Lines line; a line that is not JSON raises
    ImportFormatError naming it."""
    for number, text in text_lines(binary):  # type: ignore[arg-type]
        if not text.strip():
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as error:
            raise ImportFormatError(number, f"invalid JSON: {error.msg}") from None


# Checks a row's label against the project: returns it in its stored shape, or raises
# ValueError saying what is wrong. A set of values checks single-label classification.
LabelCheck = Callable[[dict[str, Any], Any], Any] | set[str] | None


def _row(
    line: int,
    obj: dict[str, Any],
    text_field: str,
    label_check: LabelCheck,
    required: tuple[str, ...] = (),
    adapt: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> ParsedRow:
    if adapt is not None:
        try:
            obj = adapt(obj)
        except (ValueError, KeyError) as error:
            raise ImportFormatError(line, f"cannot read this row: {error}") from None
    label = obj.pop(LABEL_KEY, None)
    for field in (text_field, *required):
        value = obj.get(field)
        if not isinstance(value, str) or not value.strip():
            raise ImportFormatError(line, f"field {field!r} is missing or empty")
    if label is None or label == "":
        label = None
    elif callable(label_check):
        try:
            label = label_check(obj, label)
        except ValueError as error:
            raise ImportFormatError(line, str(error)) from None
    else:
        label = str(label)
        if label_check is not None and label not in label_check:
            allowed = ", ".join(sorted(label_check))
            raise ImportFormatError(line, f"label {label!r} is not one of: {allowed}")
    return ParsedRow(line=line, payload=obj, label=label)


def parse_jsonl(
    binary: IO[bytes],
    text_field: str = "text",
    label_check: LabelCheck = None,
    required: tuple[str, ...] = (),
    adapt: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Iterator[ParsedRow]:
    for number, obj in json_lines(binary):
        if not isinstance(obj, dict):
            raise ImportFormatError(number, f"expected a JSON object, got {type(obj).__name__}")
        yield _row(number, obj, text_field, label_check, required, adapt)


def parse_csv(
    binary: IO[bytes],
    text_field: str = "text",
    label_check: LabelCheck = None,
    required: tuple[str, ...] = (),
    adapt: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Iterator[ParsedRow]:
    lines = text_lines(binary)
    # csv needs an iterator of strings; keep the physical line number of each row's start.
    current = {"line": 0}

    def strings() -> Iterator[str]:
        for number, text in lines:
            current["line"] = number
            yield text

    try:
        reader = csv.reader(strings(), strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFormatError(1, "the file is empty") from None
        header = [name.strip() for name in header]
        if text_field not in header:
            raise ImportFormatError(1, f"header has no {text_field!r} column")
        if len(set(header)) != len(header):
            raise ImportFormatError(1, "header repeats a column name")
        for row in reader:
            number = current["line"]
            if not row:
                continue
            if len(row) != len(header):
                raise ImportFormatError(number, f"expected {len(header)} fields, found {len(row)}")
            # Cells a curator CSV export defused with a leading quote read back as they were.
            cells = [unneutralise(cell) for cell in row]
            yield _row(
                number, dict(zip(header, cells, strict=True)), text_field, label_check, required,
                adapt,
            )  # fmt: skip
    except csv.Error as error:
        raise ImportFormatError(current["line"], f"malformed CSV: {error}") from None


def parse(
    binary: IO[bytes],
    file_format: str,
    text_field: str = "text",
    label_check: LabelCheck = None,
    required: tuple[str, ...] = (),
    adapt: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Iterator[ParsedRow]:
    """Rows of a JSONL or CSV upload. `adapt` rewrites each row first (e.g. a curator export
    back into payload + label)."""
    if file_format == "jsonl":
        return parse_jsonl(binary, text_field, label_check, required, adapt)
    if file_format == "csv":
        return parse_csv(binary, text_field, label_check, required, adapt)
    raise ImportFormatError(0, f"unsupported format {file_format!r}: use jsonl or csv")


def open_binary(data: bytes) -> IO[bytes]:
    """Convenience for callers holding bytes (tests, the API's small payloads)."""
    return io.BytesIO(data)
