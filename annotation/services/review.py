"""Curators settle disagreements and send records back to people."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotation.models import Annotation, Comment, Source
from annotation.services.annotations import label_clean
from annotation.services.assignment import record_requeue
from curator.models import Record, User
from curator.permissions import Action, require
from curator.services.audit import audit


def adjudicate(
    *,
    record: Record,
    user: User,
    value: Any = None,
    adopt: Annotation | None = None,
) -> Annotation:
    """Store the curator's label for a record (source "review"); it settles the record.

    The curator either adopts one of the labels given (`adopt`) or gives their own `value`.
    The new annotation links every label it weighed (each author's latest), so lineage shows
    what was decided between; those labels themselves stay untouched.
    """
    project = record.project
    require(user, project, Action.REVIEW)
    if adopt is not None:
        if adopt.record_id != record.pk:
            raise ValidationError({"value": "the adopted label belongs to another record"})
        value = adopt.value
    if value is None:
        raise ValidationError({"value": "choose a label to adjudicate with"})
    cleaned = label_clean(project, record, value)
    with transaction.atomic():
        latest: dict[str, int] = {}
        for annotation_id, author_id, job_id, source in (
            Annotation.objects.filter(record=record)
            .exclude(source=Source.REVIEW)
            .order_by("id")
            .values_list("id", "author_id", "job_id", "source")
        ):
            latest[f"{author_id}:{job_id}:{source}"] = annotation_id
        annotation = Annotation.objects.create(
            record=record, project=project, value=cleaned, source=Source.REVIEW, author=user
        )
        annotation.adjudicates.set(latest.values())
        Comment.objects.filter(record=record, flag=True, resolved_at__isnull=True).update(
            resolved_by=user, resolved_at=timezone.now()
        )
        audit(
            user,
            "record.adjudicate",
            project=project,
            target=f"record {record.pk}",
            annotation=annotation.pk,
            weighed=sorted(latest.values()),
        )
    return annotation


def record_send_back(*, record: Record, user: User) -> int:
    """Return a record to the annotators' queue, at its front."""
    require(user, record.project, Action.REVIEW)
    returned = record_requeue(record)
    Comment.objects.filter(record=record, flag=True, resolved_at__isnull=True).update(
        resolved_by=user, resolved_at=timezone.now()
    )
    audit(user, "record.requeue", project=record.project, target=f"record {record.pk}")
    return returned
