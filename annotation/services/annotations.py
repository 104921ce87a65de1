"""Storing labels. Annotations are append-only: nothing here updates or deletes a label."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import Annotation, Assignment, Source
from curator.models import Project, Record, User
from curator.permissions import Action, require


def validate_label(project: Project, value: Any) -> str:
    label = str(value) if value is not None else ""
    if label not in project.label_values:
        raise ValidationError(
            f"{label!r} is not a label of this project; use one of: "
            + ", ".join(project.label_values)
        )
    return label


def annotation_submit(
    *,
    assignment: Assignment,
    user: User,
    value: Any,
    seconds_spent: float | None = None,
) -> Annotation:
    """Store the annotator's label for their assignment and close it.

    A label is kept even when the lease had already expired (the annotator did the work; losing
    it would be worse than a record getting one label more than the overlap asked for).
    Submitting twice for the same assignment returns the first annotation instead of a second.
    """
    if assignment.annotator_id != user.pk:
        raise PermissionDenied("this record is assigned to someone else")
    project = assignment.project
    require(user, project, Action.ANNOTATE)
    label = validate_label(project, value)
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if locked.state == Assignment.State.SUBMITTED and locked.annotation_id:
            return Annotation.objects.get(pk=locked.annotation_id)
        annotation = Annotation.objects.create(
            record_id=locked.record_id,
            project=project,
            value=label,
            source=Source.HUMAN,
            author=user,
            seconds_spent=seconds_spent,
        )
        if locked.state != Assignment.State.LEASED:
            # Expired or skipped meanwhile, so the slot went back to the queue. If the record has
            # since been leased again to this same annotator, that lease is the one fulfilled.
            relet = (
                Assignment.objects.select_for_update()
                .filter(record_id=locked.record_id, annotator=user, state=Assignment.State.LEASED)
                .exclude(pk=locked.pk)
                .first()
            )
            if relet is not None:
                locked = relet
            else:
                Record.objects.filter(pk=locked.record_id).update(
                    claimed_count=F("claimed_count") + 1
                )
        locked.state = Assignment.State.SUBMITTED
        locked.annotation = annotation
        locked.finished_at = timezone.now()
        locked.save(update_fields=["state", "annotation", "finished_at"])
    return annotation
