"""Reads for screens and the API. No writes here."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from annotation.models import Annotation, Source
from curator.models import Job, Project, Record, Round, Split, User


def projects_for(user: User) -> QuerySet[Project]:
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def project_overview(project: Project) -> dict[str, Any]:
    splits = dict(
        Record.objects.filter(project=project)
        .values_list("split")
        .annotate(n=Count("id"))
        .values_list("split", "n")
    )
    overlap = int(project.setting("overlap"))
    human_labeled = (
        Annotation.objects.filter(project=project, source=Source.HUMAN)
        .values("record_id")
        .distinct()
        .count()
    )
    waiting = Record.objects.filter(
        project=project, split=Split.POOL, claimed_count__lt=overlap
    ).count()
    return {
        "records": sum(splits.values()),
        "splits": {split: splits.get(split, 0) for split in Split.values},
        "human_labeled": human_labeled,
        "human_labels": Annotation.objects.filter(project=project, source=Source.HUMAN).count(),
        "waiting": waiting,
    }


def recent_jobs(project: Project, limit: int = 10) -> QuerySet[Job]:
    return Job.objects.filter(project=project).select_related("round").order_by("-id")[:limit]


def rounds_of(project: Project) -> QuerySet[Round]:
    return Round.objects.filter(project=project).order_by("-number")


def active_round(project: Project) -> Round | None:
    return (
        Round.objects.filter(
            project=project, status__in=[Round.Status.QUEUED, Round.Status.RUNNING]
        )
        .order_by("-number")
        .first()
    )


def round_snapshot_page(round_: Round, after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """Keyset page of a round's training snapshot, in record order."""
    return list(
        round_.snapshot_items.filter(record_id__gt=after_id)
        .order_by("record_id")
        .values("record_id", "label", "annotation_id", "record__payload", "annotation__source")[
            :limit
        ]
    )


def annotator_stats(project: Project, user: User) -> dict[str, int]:
    counts = Annotation.objects.filter(project=project, author=user).aggregate(
        total=Count("id"), human=Count("id", filter=Q(source=Source.HUMAN))
    )
    return {"labels": counts["human"] or 0}
