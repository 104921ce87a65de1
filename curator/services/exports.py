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
from itertools import islice
from pathlib import Path
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from annotation import task_types
from annotation.labels import gold_annotations, training_labels
from annotation.models import Annotation
from curator.exporting import neutralise
from curator.hashing import files_sha256
from curator.models import Job, Project, Record, Round

CHUNK = 2000
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
    if round_ is not None:
        chosen = {
            record_id: (annotation_id, label)
            for record_id, annotation_id, label in round_.snapshot_items.values_list(
                "record_id", "annotation_id", "label"
            )
        }
    else:
        chosen = {**training_labels(project), **gold_annotations(project)}
    field = project.settings_obj.text_field
    rows = Record.objects.filter(project=project, pk__in=list(chosen)).order_by("id")
    if split:
        rows = rows.filter(split=split)
    if records is not None:
        rows = rows.filter(pk__in=records.values("pk"))
    columns = ("id", "split", "payload", "content_hash", "review", "held")
    iterator = rows.values_list(*columns).iterator(chunk_size=CHUNK)
    while batch := list(islice(iterator, CHUNK)):
        values, sources = {}, {}
        for pk, value, source in Annotation.objects.filter(
            pk__in=[chosen[row[0]][0] for row in batch]
        ).values_list("id", "value", "source"):
            values[pk], sources[pk] = value, source
        for record_id, record_split, payload, digest, review, held in batch:
            annotation_id = chosen[record_id][0]
            row = task_types.export_row(project.task_type, payload, values[annotation_id], field)
            yield {
                "record_id": record_id,
                "split": record_split,
                **row,
                "annotation_id": annotation_id,
                "label_source": sources[annotation_id],
                "review": review,
                "held": held,
                "content_hash": digest,
            }


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
    rows = labeled_rows(project, split=split, round_=round_, records=records)
    counts: Counter = Counter()
    record_ids: list[int] = []
    task = task_types.get(project.task_type)

    def counted(source: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in source:
            out = shaped(row, project.task_type, shape)
            if out is None:
                continue
            counts[task.manifest_label(row)] += 1
            record_ids.append(row["record_id"])
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
    else:
        materialised = list(counted(rows))
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(materialised), target)
        else:
            from datasets import Dataset

            Dataset.from_list(materialised).save_to_disk(str(target))
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
        "rows": len(record_ids),
        "label_counts": dict(counts),
        "filter_runs": list(
            Job.objects.filter(project=project, kind=Job.Kind.FILTER, status=Job.Status.SUCCEEDED)
            .exclude(metrics__has_key="reverted_at")
            .values_list("id", flat=True)
        ),
        "generated_batches": sorted(
            set(
                Record.objects.filter(
                    pk__in=record_ids, created_by_job__kind=Job.Kind.GENERATE
                ).values_list("created_by_job_id", flat=True)
            )
        ),
        "record_ids_sha256": hashlib.sha256(
            ",".join(map(str, sorted(record_ids))).encode()
        ).hexdigest(),
        "sha256": files_sha256(target),
        "created_at": timezone.now().isoformat(),
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
