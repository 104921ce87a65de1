"""Reads for screens and the API. No writes here."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from annotation.models import Annotation, Source
from curator.models import Job, Project, Record, Round, RoutingDecision, Split, User


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
    waiting = (
        Record.objects.filter(project=project, split=Split.POOL, claimed_count__lt=overlap)
        .exclude(route=RoutingDecision.Decision.AUTO)
        .count()
    )
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
    labels = Annotation.objects.filter(project=project, author=user, source=Source.HUMAN).count()
    return {"labels": labels}


def routing_stats(project: Project) -> dict[str, Any]:
    """What LLM routing saved and how accurate its auto-accepted labels are on spot checks.

    A spot check is a confident LLM label that people labeled anyway; its accuracy estimates
    the accuracy of the auto-accepted labels nobody looks at.
    """
    decisions = RoutingDecision.objects.filter(record__project=project)
    counts = dict(
        decisions.values_list("decision").annotate(n=Count("id")).values_list("decision", "n")
    )
    checks = decisions.filter(decision=RoutingDecision.Decision.SPOT_CHECK)
    human = dict(
        Annotation.objects.filter(record__in=checks.values("record"), source=Source.HUMAN)
        .order_by("record_id", "id")
        .values_list("record_id", "value")
    )  # the latest human label per record wins in the dict
    checked = [(label, human[record]) for record, label in checks.values_list("record", "label")
               if record in human]  # fmt: skip
    correct = sum(llm == person for llm, person in checked)
    return {
        "auto": counts.get(RoutingDecision.Decision.AUTO, 0),
        "spot_check": counts.get(RoutingDecision.Decision.SPOT_CHECK, 0),
        "human": counts.get(RoutingDecision.Decision.HUMAN, 0),
        "spot_checked": len(checked),
        "spot_check_accuracy": correct / len(checked) if checked else None,
        "held": Record.objects.filter(project=project, held=True).count(),
    }
