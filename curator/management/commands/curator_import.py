"""Import a JSONL or CSV file into a project, in this process (for scripts and pipelines)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from curator.importing.parsers import ImportFormatError, detect_format
from curator.models import Job, Project, Split
from curator.services.imports import import_bytes
from curator.services.jobs import job_create, job_fail
from workers.runtime import job_succeed


class Command(BaseCommand):
    help = "Import records (and their labels) from a JSONL or CSV file; all or nothing."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project", help="project slug")
        parser.add_argument("path")
        parser.add_argument("--split", choices=Split.values, default=Split.POOL)
        parser.add_argument("--format", choices=["jsonl", "csv", "chatlog"])

    def handle(self, *args, project: str, path: str, split: str, format: str | None,
               **options) -> None:  # fmt: skip
        found = Project.objects.filter(slug=project).first()
        if found is None:
            raise CommandError(f"no project {project!r}")
        source = Path(path)
        if not source.is_file():
            raise CommandError(f"no file {path}")
        try:
            file_format = format or detect_format(source.name)
        except ImportFormatError as error:
            raise CommandError(error.problem) from None
        job = job_create(
            project=found, kind=Job.Kind.IMPORT,
            params={"filename": source.name, "split": split, "format": file_format},
        )  # fmt: skip
        Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
        job.status = Job.Status.RUNNING
        try:
            with source.open("rb") as handle, transaction.atomic():
                result = import_bytes(
                    project=found, data=handle, file_format=file_format, split=split, job=job,
                    filename=source.name,
                )  # fmt: skip
        except ImportFormatError as error:
            job_fail(job.pk, str(error))
            raise CommandError(f"{source.name}: {error} (nothing was imported)") from None
        job_succeed(job, metrics=result.as_metrics())
        self.stdout.write(
            f"{result.created} records created, {result.duplicates} duplicates skipped, "
            f"{result.labels} labels (job {job.pk})"
        )
