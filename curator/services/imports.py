"""Importing records from uploaded JSONL/CSV files.

The upload is saved to disk by the web process and imported by a worker: streamed row by row,
bulk-inserted (COPY on PostgreSQL), exact duplicates dropped by content hash, all in one
transaction so a malformed file leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone
from psycopg.copy import QueuedLibpqWriter

from annotation import task_types
from annotation.models import Annotation, Source
from curator.hashing import canonical_hash, canonical_json, content_hash
from curator.importing import chatlog
from curator.importing.parsers import (
    ImportFormatError,
    ParsedRow,
    detect_format,
    parse,
)
from curator.models import Job, Project, Record, Split, User
from curator.services.audit import audit
from curator.services.jobs import JobCancelled, job_create, job_dispatch

BATCH_SIZE = 2_000
COPY_BATCH = 10_000


@dataclass(frozen=True)
class ImportResult:
    rows: int
    created: int
    duplicates: int
    labels: int

    def as_metrics(self) -> dict[str, int]:
        return asdict(self)


def _save_upload(upload: UploadedFile) -> tuple[Path, str, int]:
    """Copy the upload to MEDIA_ROOT/imports chunk by chunk; return path, sha256 and size."""
    directory = Path(settings.MEDIA_ROOT) / "imports"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.upload"
    digest = hashlib.sha256()
    size = 0
    with path.open("wb") as out:
        for chunk in upload.chunks():
            size += len(chunk)
            if size > settings.CURATOR_MAX_UPLOAD_BYTES:
                out.close()
                path.unlink(missing_ok=True)
                raise ImportFormatError(
                    0, f"the file is larger than {settings.CURATOR_MAX_UPLOAD_BYTES} bytes"
                )
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        path.unlink(missing_ok=True)
        raise ImportFormatError(0, "the file is empty")
    return path, digest.hexdigest(), size


def import_start(
    *,
    project: Project,
    upload: UploadedFile,
    split: str = Split.POOL,
    file_format: str | None = None,
    user: User | None = None,
) -> Job:
    """Store the upload and queue its import. Raises ImportFormatError for unusable files."""
    if split not in Split.values:
        raise ImportFormatError(0, f"unknown split {split!r}: use one of {', '.join(Split.values)}")
    file_format = file_format or detect_format(upload.name or "")
    path, sha256, size = _save_upload(upload)
    params = {
        "path": str(path.relative_to(settings.MEDIA_ROOT)),
        "filename": upload.name,
        "format": file_format,
        "split": split,
        "sha256": sha256,
        "bytes": size,
    }
    with transaction.atomic():
        job = job_create(project=project, kind=Job.Kind.IMPORT, params=params, created_by=user)
        audit(user, "import.start", project=project, target=upload.name or "", job=job.pk)
        job_dispatch(job)
    return job


def _batches(rows: Iterable[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


CANCEL_CHECK_EVERY = 20_000


def _watch_cancel(rows: Iterable[ParsedRow], job: Job) -> Iterator[ParsedRow]:
    """Pass rows through; stop with JobCancelled once someone cancelled the job.

    The import's own transaction still sees the cancel (READ COMMITTED), and raising inside it
    rolls back every row of this upload.
    """
    for count, row in enumerate(rows, start=1):
        if count % CANCEL_CHECK_EVERY == 0:
            _raise_if_cancelled(job)
        yield row


def _raise_if_cancelled(job: Job) -> None:
    if job.pk and Job.objects.filter(pk=job.pk, status=Job.Status.CANCELLED).exists():
        raise JobCancelled(f"import job {job.pk} was cancelled")


def import_rows(
    *, project: Project, rows: Iterable[ParsedRow], split: str, job: Job, filename: str
) -> ImportResult:
    """Insert parsed rows as records of `project` created by `job`, in one transaction.

    A row whose payload already exists in the project (or earlier in the same file) is counted
    as a duplicate and skipped. A row's label becomes an `import` annotation of the new record.
    Any ImportFormatError raised while iterating `rows` rolls the whole import back.
    """
    rows = _watch_cancel(rows, job)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _import_postgresql(project, rows, split, job, filename)
        return _import_portable(project, rows, split, job, filename)


def _copy_text(value: str) -> str:
    """A field of COPY's text format. JSON text has no raw tab, newline or carriage return
    (json.dumps escapes them), so its backslashes are the one thing to escape."""
    return value.replace("\\", "\\\\")


def _copy_lines(batch: list[ParsedRow]) -> str:
    """The batch as COPY text: line, canonical payload, its hash, label (or NULL)."""
    lines = []
    for row in batch:
        canonical = canonical_json(row.payload)
        label = "\\N" if row.label is None else _copy_text(json.dumps(row.label))
        lines.append(f"{row.line}\t{_copy_text(canonical)}\t{canonical_hash(canonical)}\t{label}\n")
    return "".join(lines)


def _import_postgresql(
    project: Project, rows: Iterable[ParsedRow], split: str, job: Job, filename: str
) -> ImportResult:
    """COPY into a temporary table, then one INSERT ... SELECT into the records.

    Per row, Python only parses, hashes and formats one line of COPY text; a sender thread
    (psycopg's queued writer) ships the lines while the next ones are formatted, so parsing here
    and ingesting in PostgreSQL overlap on two cores. Duplicates within the file and against the
    project are both dropped by ON CONFLICT: rows go in file order, so the first one stays.
    """
    record_table = Record._meta.db_table
    annotation_table = Annotation._meta.db_table
    count = 0
    with connection.cursor() as cursor:
        # Dropped explicitly too: several imports may share one outer transaction.
        cursor.execute("DROP TABLE IF EXISTS import_staging")
        # The payload stays text until the INSERT reads it as jsonb: parsed once, not twice.
        cursor.execute(
            "CREATE TEMP TABLE import_staging "
            "(line integer, payload text, content_hash text, label text) ON COMMIT DROP"
        )
        raw = cursor.cursor  # the psycopg 3 cursor, for COPY
        # One COPY per batch: the connection is free between batches (for the cancel check),
        # and memory holds one batch, whatever the file size.
        for batch in _batches(rows, COPY_BATCH):
            with raw.copy(
                "COPY import_staging (line, payload, content_hash, label) FROM STDIN",
                writer=QueuedLibpqWriter(raw),
            ) as copy:
                copy.write(_copy_lines(batch))
            count += len(batch)
        _raise_if_cancelled(job)  # last chance before the big INSERT, which is not interruptible
        cursor.execute(
            f"""
            INSERT INTO {record_table}
                (project_id, payload, content_hash, origin, split, created_by_job_id, source,
                 created_at)
            SELECT %s, payload::jsonb, content_hash, 'import', %s, %s,
                jsonb_build_object('file', %s::text, 'line', line), now()
            FROM import_staging
            ORDER BY line  -- ids follow the order of the file; the first of duplicates stays
            ON CONFLICT (project_id, content_hash) DO NOTHING
            """,  # noqa: S608 - table names come from model metadata, values are parameters
            [project.pk, split, job.pk, filename],
        )
        created = cursor.rowcount
        labels = 0
        if created:
            cursor.execute(
                f"""
                INSERT INTO {annotation_table}
                    (record_id, project_id, value, source, job_id, created_at)
                SELECT DISTINCT ON (r.id) r.id, r.project_id, s.label::jsonb, 'import', %s, now()
                FROM import_staging s
                JOIN {record_table} r ON r.project_id = %s AND r.content_hash = s.content_hash
                WHERE s.label IS NOT NULL AND r.created_by_job_id = %s
                ORDER BY r.id, s.line
                """,  # noqa: S608
                [job.pk, project.pk, job.pk],
            )
            labels = cursor.rowcount
        cursor.execute("DROP TABLE import_staging")
    if created:
        transaction.on_commit(lambda: records_analyze(created))
    return ImportResult(rows=count, created=created, duplicates=count - created, labels=labels)


def records_analyze(created: int) -> None:
    """Fresh planner statistics for the columns the queue and the data manager filter on, after
    a bulk write: plans must not wait for autovacuum (which may be off) to notice that a project
    grew from nothing to a million records. The payload is left out: sampling it is most of the
    cost of an ANALYZE and no plan reads its statistics."""
    record_table = Record._meta.db_table
    with connection.cursor() as cursor:
        # Like autovacuum's rule (10% new), without waiting for it: a small import into a big
        # table leaves its statistics true enough, and an ANALYZE samples 30k rows.
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [record_table])
        estimated = cursor.fetchone()[0]
        if estimated >= 0 and created < 0.1 * estimated:
            return
        cursor.execute(
            f"ANALYZE {record_table} (project_id, split, claimed_count, priority, held, "
            "review, route, filtered_by_id, created_by_job_id, content_hash)"
        )
        cursor.execute(f"ANALYZE {Annotation._meta.db_table} (record_id, project_id, source)")


def _import_portable(
    project: Project, rows: Iterable[ParsedRow], split: str, job: Job, filename: str
) -> ImportResult:
    """The SQLite path of the demo: batched bulk_create instead of COPY."""
    count = created = labels = 0
    now = timezone.now()
    for batch in _batches(rows, BATCH_SIZE):
        count += len(batch)
        labelled: dict[str, Any] = {}
        records = []
        seen: set[str] = set()
        for row in batch:
            digest = content_hash(row.payload)
            if digest in seen:
                continue
            seen.add(digest)
            if row.label is not None:
                labelled[digest] = row.label
            records.append(
                Record(
                    project=project,
                    payload=row.payload,
                    content_hash=digest,
                    split=split,
                    created_by_job=job,
                    source={"file": filename, "line": row.line},
                    created_at=now,
                )
            )
        existing = set(
            Record.objects.filter(project=project, content_hash__in=seen).values_list(
                "content_hash", flat=True
            )
        )
        fresh = [record for record in records if record.content_hash not in existing]
        Record.objects.bulk_create(fresh, batch_size=500)
        created += len(fresh)
        if labelled:
            ids = dict(
                Record.objects.filter(
                    project=project, created_by_job=job, content_hash__in=list(labelled)
                ).values_list("content_hash", "id")
            )
            annotations = [
                Annotation(
                    record_id=ids[digest],
                    project=project,
                    value=label,
                    source=Source.IMPORT,
                    job=job,
                )
                for digest, label in labelled.items()
                if digest in ids
            ]
            Annotation.objects.bulk_create(annotations, batch_size=500)
            labels += len(annotations)
    return ImportResult(rows=count, created=created, duplicates=count - created, labels=labels)


# Task types a chat log imports into, and how its calls become records.
CHATLOG_READERS = {
    task_types.CORRECTION: chatlog.correction_rows,
    task_types.PAIRWISE: chatlog.pairwise_rows,
}


def project_rows(project: Project, binary: IO[bytes], file_format: str) -> Iterator[ParsedRow]:
    """Parse an upload for `project`: the fields its task type needs, labels in their shape.

    A JSONL file whose first line is a logged chat-completion call reads as format `chatlog`.
    """
    if file_format == "jsonl":
        # Any iterable of lines (a file, a generator); the first line is put back in front.
        lines = iter(binary)
        first = next(lines, b"")
        binary = itertools.chain([first], lines)  # type: ignore[assignment]
        if chatlog.looks_like_chatlog(first):
            file_format = "chatlog"
    if file_format == "chatlog":
        reader = CHATLOG_READERS.get(project.task_type)
        if reader is None:
            raise ImportFormatError(
                0, "chat logs import into correction or pairwise projects, "
                f"not {project.get_task_type_display().lower()} projects"
            )  # fmt: skip
        return reader(binary)
    task = task_types.get(project.task_type)
    text_field = project.settings_obj.text_field if "text" in task.fields else task.fields[0]
    required = tuple(field for field in task.fields if field not in ("text", text_field))

    def check(payload: dict[str, Any], label: Any) -> Any:
        return task.import_label(project.labels, payload, label, text_field)

    def adapt(row: dict[str, Any]) -> dict[str, Any]:
        # A file exported by curator (its rows carry label_source) imports back as it was.
        return task_types.import_row(project.task_type, row) if "label_source" in row else row

    return parse(binary, file_format, text_field, check, required, adapt)


def import_file(job: Job) -> dict[str, Any]:
    """Job body: parse the stored upload and import it. Metrics: rows, created, duplicates."""
    project = job.project
    params = job.params
    path = Path(settings.MEDIA_ROOT) / params["path"]
    with path.open("rb") as binary:
        rows = project_rows(project, binary, params["format"])
        result = import_rows(
            project=project, rows=rows, split=params["split"], job=job, filename=params["filename"]
        )
    if result.rows == 0:
        raise ImportFormatError(0, "the file holds no records")
    metrics = result.as_metrics()
    if result.created and project.settings_obj.score_toxicity_on_import:
        # Every record is scored before training can use it; this job only sees unscored ones.
        with transaction.atomic():
            follow_up = job_create(
                project=project, kind=Job.Kind.TOXICITY, created_by=job.created_by
            )
            job_dispatch(follow_up)
        metrics["toxicity_job"] = follow_up.pk
    return metrics


def import_bytes(
    *, project: Project, data: IO[bytes], file_format: str, split: str, job: Job, filename: str
) -> ImportResult:
    """Import from an open binary stream in this process (demo loader, benchmarks)."""
    rows = project_rows(project, data, file_format)
    return import_rows(project=project, rows=rows, split=split, job=job, filename=filename)
