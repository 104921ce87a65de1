"""Export a project's labeled records (or one round's training set) with a manifest."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from curator.models import Project, Round
from curator.services.exports import FORMATS, export_write


class Command(BaseCommand):
    help = "Write labeled records (jsonl, csv, parquet or a HF dataset) with a manifest.json."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project", help="project slug")
        parser.add_argument("out", help="folder to write into")
        parser.add_argument("--format", choices=FORMATS, default="jsonl")
        parser.add_argument("--round", type=int, help="export exactly this round's training set")
        parser.add_argument("--split", choices=["pool", "train", "gold"])

    def handle(self, *args, project: str, out: str, format: str, round: int | None,
               split: str | None, **options) -> None:  # fmt: skip
        found = Project.objects.filter(slug=project).first()
        if found is None:
            raise CommandError(f"no project {project!r}")
        round_ = None
        if round is not None:
            round_ = Round.objects.filter(project=found, number=round).first()
            if round_ is None:
                raise CommandError(f"project {project!r} has no round {round}")
        manifest = export_write(found, Path(out), format, round_=round_, split=split)
        self.stdout.write(
            f"{manifest['rows']} rows -> {Path(out) / manifest['file']} (sha256 "
            f"{manifest['sha256'][:12]}…), manifest.json beside it"
        )
