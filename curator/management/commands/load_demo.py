from __future__ import annotations

import io

from django.core.management.base import BaseCommand
from django.db import transaction

from curator.demo import DEMO_PROJECTS, DEMO_SETTINGS, as_jsonl
from curator.models import Job, Project, Role, User
from curator.services.imports import import_bytes
from curator.services.jobs import job_create
from curator.services.projects import membership_set, project_create
from workers.runtime import job_succeed

DEMO_USERS = [("admin", Role.ADMIN), ("curator", Role.CURATOR), ("annotator", Role.ANNOTATOR)]


class Command(BaseCommand):
    help = "Create the demo projects with one user per role (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--password", default="curator-demo")

    def handle(self, *args, password: str, **options) -> None:
        users = {}
        for username, role in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_staff = role == Role.ADMIN
                user.is_superuser = role == Role.ADMIN
                user.save()
            users[role] = user
        for slug, name, task_type, labels, guidelines, splits in DEMO_PROJECTS:
            if Project.objects.filter(slug=slug).exists():
                self.stdout.write(f"{slug} already loaded")
                continue
            self._load(users, slug, name, task_type, labels, guidelines, splits())

    def _load(self, users, slug, name, task_type, labels, guidelines, splits) -> None:
        with transaction.atomic():
            project = project_create(
                name=name,
                slug=slug,
                task_type=task_type,
                labels=labels,
                guidelines=guidelines,
                settings=DEMO_SETTINGS.get(slug),
                created_by=users[Role.ADMIN],
            )
            for role, user in users.items():
                membership_set(project=project, user=user, role=role, actor=users[Role.ADMIN])
            for split, rows in splits.items():
                filename = f"{slug}-{split}.jsonl"
                job = job_create(
                    project=project,
                    kind=Job.Kind.IMPORT,
                    params={"filename": filename, "split": split, "format": "jsonl"},
                    created_by=users[Role.ADMIN],
                )
                Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
                job.status = Job.Status.RUNNING
                result = import_bytes(
                    project=project,
                    data=io.BytesIO(as_jsonl(rows)),
                    file_format="jsonl",
                    split=split,
                    job=job,
                    filename=filename,
                )
                job_succeed(job, metrics=result.as_metrics())
                self.stdout.write(
                    f"{slug} {split}: {result.created} records, {result.labels} labels"
                )
        self.stdout.write(self.style.SUCCESS(f"demo project {slug!r} loaded"))
