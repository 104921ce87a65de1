"""Training-ready exports of a project's labeled records, in its task type's shape.

Formats: JSON Lines, CSV, Parquet and a Hugging Face `datasets` folder (save_to_disk). Every
export writes a manifest.json beside the data: project, round and its snapshot digest, the
filter runs and generated batches behind the data, counts, and the sha256 of each data file.
Each row carries the record and annotation ids it came from. The JSONL and CSV files import
back into a project of the same task type.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotation import task_types
from annotation.labels import RecordRange, exported_labels
from annotation.models import Annotation
from curator.exporting import arrow_write, neutralise
from curator.hashing import files_sha256
from curator.models import Job, Project, Record, Round

# Annotations per range of records whose labels are settled and rows written together.
CHUNK = 5000
_MAX_ID = 2**63 - 1  # the last range is open: bigint's largest id ends it
FORMATS = ("jsonl", "csv", "parquet", "hf")
FILENAMES = {"jsonl": "data.jsonl", "csv": "data.csv", "parquet": "data.parquet", "hf": "dataset"}


def labeled_rows(
    project: Project,
    split: str | None = None,
    round_: Round | None = None,
    records: QuerySet[Record] | None = None,
) -> Iterator[dict[str, Any]]:
    """One dict per labeled record, in record order: the consensus label as the trainer of the
    task type wants it (text/label, prompt/chosen/rejected, prompt/response with messages...),
    with the record and annotation ids that let any row be traced back, the label's source and
    the record's review state and hold. With `round_`, exactly that round's training snapshot;
    with `records` (the data manager's filter), only those records."""
    for row, _ in _rows_with_origin(project, split, round_, records):
        yield row


def _ranges(project: Project) -> Iterator[RecordRange]:
    """Ranges of record ids that together hold every annotation of the project, about CHUNK
    annotations each: one query, and memory holds one boundary per CHUNK annotations.

    A range ends on a record, so all the votes of a record fall in the same range."""
    sql = f"""
        SELECT DISTINCT record_id FROM (
            SELECT record_id, ROW_NUMBER() OVER (ORDER BY record_id) AS n
            FROM {Annotation._meta.db_table} WHERE project_id = %s
        ) numbered
        WHERE n %% %s = 0
        ORDER BY record_id
    """  # noqa: S608 - the table name from model metadata, values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk, CHUNK])
        bounds = [bound for (bound,) in cursor.fetchall()]
    low = 0
    for high in bounds:
        yield low, high
        low = high
    yield low, None


def _chosen_annotations(
    project: Project, round_: Round | None
) -> Iterator[tuple[RecordRange, list[int]]]:
    """Per range of records, in record order: the annotation that gives each exported record
    of the range its label."""
    ranges = list(_ranges(project))
    if round_ is None:
        for records, chosen in zip(ranges, exported_labels(project, ranges), strict=True):
            yield records, [annotation_id for annotation_id, _ in chosen.values()]
        return
    items = round_.snapshot_items
    for low, high in ranges:
        within = items.filter(record_id__gt=low)
        if high is not None:
            within = within.filter(record_id__lte=high)
        yield (low, high), list(within.values_list("annotation_id", flat=True))


def _rows_with_origin(
    project: Project,
    split: str | None = None,
    round_: Round | None = None,
    records: QuerySet[Record] | None = None,
) -> Iterator[tuple[dict[str, Any], int | None]]:
    """(row of `labeled_rows`, the job that created its record).

    Labels are settled one range of records at a time (`_ranges`), and each range's rows read
    in one query with its chosen annotations' ids as one array parameter: memory holds one
    range's votes and rows whatever the export's size, and no statement lists ids one
    placeholder each.
    """
    field = project.settings_obj.text_field
    # PostgreSQL takes the ids as one array; SQLite (the demo) as one JSON text it unnests.
    if connection.vendor == "postgresql":
        conditions = ["a.id = ANY(%s::bigint[])"]
    else:
        conditions = ["a.id IN (SELECT value FROM json_each(%s))"]
    # The range on both tables: each is read from its index (given the ids alone, or the range
    # of one table, PostgreSQL read both tables whole for each range).
    conditions.append("r.id > %s AND r.id <= %s AND a.record_id > %s AND a.record_id <= %s")
    conditions.append("r.project_id = %s")
    params: list[Any] = [project.pk]
    if split:
        conditions.append("r.split = %s")
        params.append(split)
    if records is not None:
        subquery, subparams = records.values("pk").query.sql_with_params()
        conditions.append(f"r.id IN ({subquery})")
        params.extend(subparams)
    sql = f"""
        SELECT r.id, r.split, r.payload, r.content_hash, r.review, r.held, r.created_by_job_id,
            a.id, a.value, a.source
        FROM {Annotation._meta.db_table} a JOIN {Record._meta.db_table} r ON r.id = a.record_id
        WHERE {" AND ".join(conditions)}
        ORDER BY r.id
    """  # noqa: S608 - table names from model metadata, values are parameters
    loads = json.loads
    # Each range: its labels, then its rows in one statement (under READ COMMITTED, a label
    # given while an export runs is in it or not by the range it falls in).
    with transaction.atomic():
        for (low, high), annotation_ids in _chosen_annotations(project, round_):
            if not annotation_ids:
                continue
            ids: list[int] | str = (
                annotation_ids if connection.vendor == "postgresql" else json.dumps(annotation_ids)
            )
            top = _MAX_ID if high is None else high
            with connection.cursor() as cursor:
                cursor.execute(sql, [ids, low, top, low, top, *params])
                batch = cursor.fetchall()
            for (
                record_id, record_split, payload, digest, review, held, job_id,
                annotation_id, value, source,
            ) in batch:  # fmt: skip
                row = task_types.export_row(
                    project.task_type, _json(payload, loads), _json(value, loads), field
                )
                yield (
                    {
                        "record_id": record_id,
                        "split": record_split,
                        **row,
                        "annotation_id": annotation_id,
                        "label_source": source,
                        "review": review,
                        "held": held,
                        "content_hash": digest,
                    },
                    job_id,
                )


def _json(value: Any, loads: Any) -> Any:
    # A raw cursor hands jsonb over as text (Django's loader); decode it as the ORM would.
    return loads(value) if isinstance(value, str) else value


def _flat(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value


SHAPE_KEEPS = ("record_id",)  # every shape keeps the id a row is traced back by


def shapes(task_type: str) -> dict[str, str]:
    """Shapes an export of this task type can take: name -> the fields it writes."""
    task = task_types.get(task_type)
    return {"full": "every field, with provenance",
            **{name: ", ".join(keep) for name, keep in task.export_shapes.items()}}  # fmt: skip


def shaped(row: dict[str, Any], task_type: str, shape: str) -> dict[str, Any] | None:
    """The row cut to one of the task type's shapes; None where it lacks a field of the shape
    (a tie has no chosen response), so the shape leaves it out."""
    if shape == "full":
        return row
    keep = task_types.get(task_type).export_shapes[shape]
    if any(row.get(key) is None for key in keep):
        return None
    return {key: row[key] for key in (*SHAPE_KEEPS, *keep)}


def export_write(
    project: Project,
    directory: Path,
    fmt: str = "jsonl",
    round_: Round | None = None,
    split: str | None = None,
    records: QuerySet[Record] | None = None,
    shape: str = "full",
    filters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the export and its manifest into `directory`; returns the manifest.

    `records` limits it to a filtered set (the data manager's; `filters` describes it in the
    manifest), and `shape` cuts rows to what one trainer reads (`shapes`).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if shape not in shapes(project.task_type):
        raise ValueError(f"shape must be one of {', '.join(shapes(project.task_type))}")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / FILENAMES[fmt]
    rows = _rows_with_origin(project, split=split, round_=round_, records=records)
    counts: Counter = Counter()
    # Rows come in record order, so the digest of the sorted ids is taken as they pass.
    ids_digest = hashlib.sha256()
    written = 0
    jobs: set[int] = set()
    task = task_types.get(project.task_type)

    def counted(source: Iterator[tuple[dict[str, Any], int | None]]) -> Iterator[dict[str, Any]]:
        nonlocal written
        for row, job_id in source:
            out = shaped(row, project.task_type, shape)
            if out is None:
                continue
            counts[task.manifest_label(row)] += 1
            ids_digest.update(f"{',' if written else ''}{row['record_id']}".encode())
            written += 1
            if job_id is not None:
                jobs.add(job_id)
            yield out

    if fmt == "jsonl":
        with target.open("w", encoding="utf-8") as handle:
            for row in counted(rows):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        with target.open("w", encoding="utf-8", newline="") as handle:
            writer = None
            for row in counted(rows):
                if writer is None:
                    writer = csv.DictWriter(handle, fieldnames=list(row))
                    writer.writeheader()
                # Cells and label values alike: no formula runs when the file is opened.
                writer.writerow({key: neutralise(_flat(value)) for key, value in row.items()})
    elif fmt == "parquet":
        arrow_write(counted(rows), target, "parquet")
    else:
        from datasets import Dataset

        # Streamed to an Arrow file, which datasets memory-maps and saves: no list of every row.
        staging = directory / "dataset.arrows"
        arrow_write(counted(rows), staging, "arrow")
        try:
            Dataset.from_file(str(staging)).save_to_disk(str(target))
        finally:
            staging.unlink(missing_ok=True)
    manifest = {
        "project": {"slug": project.slug, "name": project.name, "task_type": project.task_type},
        "round": (
            {"number": round_.number, "snapshot_sha256": round_.snapshot_sha256}
            if round_ is not None
            else None
        ),
        "split": split,
        "shape": shape,
        "filters": filters or {},
        "format": fmt,
        "file": target.name,
        "rows": written,
        "label_counts": dict(counts),
        "filter_runs": list(
            Job.objects.filter(project=project, kind=Job.Kind.FILTER, status=Job.Status.SUCCEEDED)
            .exclude(metrics__has_key="reverted_at")
            .values_list("id", flat=True)
        ),
        "generated_batches": sorted(
            Job.objects.filter(pk__in=jobs, kind=Job.Kind.GENERATE).values_list("id", flat=True)
        ),
        "record_ids_sha256": ids_digest.hexdigest(),
        "sha256": files_sha256(target),
        "created_at": timezone.now().isoformat(),
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
