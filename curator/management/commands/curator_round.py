"""Start a round from the command line, optionally waiting for its result."""

from __future__ import annotations

import json
import time

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from curator import round_kinds
from curator.errors import NotStartable
from curator.models import Job, Membership, Project, Role, User
from curator.services import round_lifecycle
from curator.services.jobs import BrokerUnavailable
from curator.services.rounds import round_start


class Command(BaseCommand):
    help = "Start the next round of a project (a worker must be running) and print its metrics."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project", help="project slug")
        parser.add_argument("--user", help="who starts it (default: the project's first admin)")
        parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the end")
        parser.add_argument(
            "--kind",
            choices=sorted(round_kinds.KINDS),
            help="round kind (default: the first that fits the project's task type)",
        )

    def handle(
        self, *args, project: str, user: str | None, wait: float, kind: str | None, **options
    ) -> None:
        found = Project.objects.filter(slug=project).first()
        if found is None:
            raise CommandError(f"no project {project!r}")
        if user:
            actor = User.objects.filter(username=user).first()
        else:
            membership = Membership.objects.filter(project=found, role=Role.ADMIN).first()
            actor = membership.user if membership else None
        if actor is None:
            raise CommandError("no user to start the round as; pass --user")
        try:
            round_ = round_start(project=found, user=actor, kind=kind)
        except (NotStartable, PermissionDenied, BrokerUnavailable) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"round {round_.number} queued")
        deadline = time.monotonic() + wait
        while wait and time.monotonic() < deadline:
            round_.refresh_from_db()
            if round_.status in round_lifecycle.FINISHED:
                break
            time.sleep(1)
        round_.refresh_from_db()
        job = Job.objects.filter(round=round_).first()
        self.stdout.write(json.dumps({
            "round": round_.number, "kind": round_.kind, "status": round_.status,
            "metrics": round_.metrics, "error": job.error if job else "",
        }, indent=2, default=str))  # fmt: skip
