"""Export helpers. No Django here."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

# Rows per Arrow record batch written: memory holds one batch, whatever the export's size.
ARROW_BATCH = 10_000

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


def arrow_write(rows: Iterable[dict[str, Any]], path: Path, kind: str) -> None:
    """Write dict rows (all with the same keys) batch by batch as Parquet (`kind` "parquet") or
    an Arrow IPC stream ("arrow", what `datasets.Dataset.from_file` maps).

    The schema is the first batch's, with columns that were only ever None there typed as
    text (a later batch may fill them); a later batch that does not fit raises ValueError.
    """
    import pyarrow as pa  # loaded only by exports that need it: the web process starts without
    import pyarrow.parquet as pq

    iterator = iter(rows)
    writer: Any = None
    schema = None
    try:
        while batch := list(islice(iterator, ARROW_BATCH)):
            if schema is None:
                inferred = pa.Table.from_pylist(batch).schema
                schema = pa.schema(
                    [
                        field.with_type(pa.string()) if pa.types.is_null(field.type) else field
                        for field in inferred
                    ]
                )
                writer = (
                    pq.ParquetWriter(path, schema)
                    if kind == "parquet"
                    else pa.ipc.new_stream(str(path), schema)
                )
            if set(batch[0]) != set(schema.names):
                raise ValueError(f"rows changed their fields: {sorted(batch[0])}")
            try:
                table = pa.Table.from_pylist(batch, schema=schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
                raise ValueError(f"rows changed their types: {error}") from error
            writer.write_table(table)
        if writer is None:  # no rows: an empty file all the same
            schema = pa.schema([])
            writer = (
                pq.ParquetWriter(path, schema)
                if kind == "parquet"
                else pa.ipc.new_stream(str(path), schema)
            )
    finally:
        if writer is not None:
            writer.close()
