"""A project's state at a glance: records, labels, rounds and running jobs."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from curator import selectors
from curator.models import Job, Project


class Command(BaseCommand):
    help = "Print a project's counts, its rounds with their metrics, and unfinished jobs (JSON)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project", help="project slug")

    def handle(self, *args, project: str, **options) -> None:
        found = Project.objects.filter(slug=project).first()
        if found is None:
            raise CommandError(f"no project {project!r}")
        rounds = [
            {"number": r.number, "status": r.status, "accuracy": r.metrics.get("accuracy"),
             "macro_f1": r.metrics.get("macro_f1"), "train_size": r.metrics.get("train_size")}
            for r in selectors.rounds_of(found)[:20]
        ]  # fmt: skip
        jobs = [
            {"id": j.pk, "kind": j.kind, "status": j.status, "stage": j.stage,
             "progress": [j.progress_done, j.progress_total]}
            for j in Job.objects.filter(project=found).exclude(status__in=Job.FINISHED)
        ]  # fmt: skip
        self.stdout.write(json.dumps({
            "project": found.slug, "task_type": found.task_type,
            "overview": selectors.project_overview(found), "rounds": rounds, "active_jobs": jobs,
        }, indent=2, default=str))  # fmt: skip
