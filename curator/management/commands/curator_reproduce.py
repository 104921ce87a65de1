"""Retrain a round from its frozen snapshot and check that its gold metrics come out the same."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from curator.models import Round


class Command(BaseCommand):
    help = "Retrain round N of a project from its snapshot and seed; exit 1 if metrics differ."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project", help="project slug")
        parser.add_argument("round", type=int)

    def handle(self, *args, project: str, round: int, **options) -> None:
        # Imported here so the other commands never load torch; no import circle is involved.
        from workers.jobs.round import round_reproduce

        found = Round.objects.filter(project__slug=project, number=round).first()
        if found is None:
            raise CommandError(f"project {project!r} has no round {round}")
        try:
            result = round_reproduce(found)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(json.dumps(result, indent=2))
        if not result["identical"]:
            raise CommandError("the retrained metrics differ from the round's")
