"""Curators decide what enters training: review of generated batches, filter runs and their
undo, label-noise flags. Every decision is a row (annotation, lineage edge, filter decision)
and an audit event."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotation import task_types
from annotation.models import Annotation, Source
from curator.hashing import content_hash
from curator.models import (
    Job,
    LineageEdge,
    Origin,
    Record,
    ReviewState,
    Score,
    Split,
    User,
)
from curator.models.records import QUALITY_KIND
from curator.models.validation import field_errors
from curator.permissions import Action, require
from curator.services.audit import audit

DECISIONS = ("approve", "reject", "edit")


def intended_label(record: Record) -> str | None:
    return (
        Annotation.objects.filter(record=record, source=Source.LLM, job=record.created_by_job)
        .values_list("value", flat=True)
        .first()
    )


def item_review(
    *,
    record: Record,
    user: User,
    decision: str,
    reason: str = "",
    text: str | None = None,
    label: str | None = None,
) -> Record:
    """Approve, reject (with a reason) or edit one generated item.

    Approving stores a `review` annotation with the intended (or the curator's) label and moves
    the item to the train split. Editing creates a new record with the edited text, linked to
    the original as its parent, approved at once; the original is rejected as "edited". Where
    the text a curator edits is the label itself (a generated response of a correction project,
    `TaskType.edited_label`), the item keeps its payload (the model's draft) and is approved
    with the curator's response.
    """
    with field_errors("decision"):
        return _item_review(record, user, decision, reason, text, label)


def _item_review(
    record: Record, user: User, decision: str, reason: str, text: str | None, label: str | None
) -> Record:
    project = record.project
    require(user, project, Action.REVIEW)
    if decision not in DECISIONS:
        raise ValidationError(f"decision must be one of {', '.join(DECISIONS)}")
    if record.review != ReviewState.PENDING:
        raise ValidationError(f"record {record.pk} is not waiting for review ({record.review})")
    chosen = label if label else intended_label(record)
    if decision != "reject":
        chosen = task_types.clean_value(project.task_type, project.labels, record.payload, chosen)
    now = timezone.now()
    with transaction.atomic():
        locked = Record.objects.select_for_update().get(pk=record.pk)
        if locked.review != ReviewState.PENDING:
            raise ValidationError(f"record {record.pk} was reviewed meanwhile")
        if decision == "reject":
            if not reason.strip():
                raise ValidationError({"reason": "say why the item is rejected"})
            _decide(locked, user, ReviewState.REJECTED, reason.strip(), now)
            result = locked
        elif decision == "approve":
            _approve(locked, user, chosen, now)
            result = locked
        else:
            result, chosen = _edit(locked, user, text or "", chosen, now)
        audit(user, f"item.{decision}", project=project, target=f"record {record.pk}",
              reason=reason, label=chosen if decision != "reject" else None)  # fmt: skip
    return result


def _decide(record: Record, user: User, state: str, note: str, now) -> None:
    record.review, record.review_note = state, note[:300]
    record.reviewed_by, record.reviewed_at = user, now
    fields = ["review", "review_note", "reviewed_by", "reviewed_at"]
    if state == ReviewState.APPROVED:
        record.split = Split.TRAIN
        fields.append("split")
    record.save(update_fields=fields)


def _approve(record: Record, user: User, label: Any, now, note: str = "") -> None:
    _decide(record, user, ReviewState.APPROVED, note, now)
    review = Annotation.objects.create(
        record=record, project=record.project, value=label, source=Source.REVIEW, author=user
    )
    review.adjudicates.set(
        Annotation.objects.filter(record=record, source=Source.LLM).values_list("id", flat=True)
    )


def _edit(record: Record, user: User, text: str, label: Any, now) -> tuple[Record, Any]:
    """The approved record and the label it trains with."""
    project = record.project
    text = text.strip()
    if not text:
        raise ValidationError({"text": "the edited text must not be empty"})
    task = task_types.get(project.task_type)
    with field_errors("text"):
        corrected = task.edited_label(project.labels, record.payload, text)
    if corrected is not None:
        _approve(record, user, corrected, now, note="approved with the curator's edit")
        return record, corrected
    payload = task.edited_payload(record.payload, text, label, project.settings_obj.text_field)
    if Record.objects.filter(project=project, content_hash=content_hash(payload)).exists():
        raise ValidationError({"text": "a record with exactly this text exists already"})
    edited = Record.objects.create(
        project=project,
        payload=payload,
        content_hash=content_hash(payload),
        origin=Origin.EDIT,
        split=Split.POOL,
        created_by_job=record.created_by_job,
        review=ReviewState.PENDING,
        source={"edited_from": record.pk, "by": user.username},
    )
    LineageEdge.objects.create(parent=record, child=edited, operation="edit")
    _approve(edited, user, label, now)
    _decide(record, user, ReviewState.REJECTED, f"edited into record {edited.pk}", now)
    return edited, label


def bulk_review(
    *, job: Job, user: User, decision: str, threshold: float, kind: str = QUALITY_KIND
) -> int:
    """Approve every pending item of the batch scoring at least `threshold`, or reject every one
    scoring below it; returns how many were decided."""
    require(user, job.project, Action.REVIEW)
    if decision not in ("approve", "reject"):
        raise ValidationError("bulk decisions are approve or reject")
    pending = Record.objects.filter(created_by_job=job, review=ReviewState.PENDING)
    scores = dict(
        Score.objects.filter(record__in=pending, kind=kind).values_list("record_id", "value")
    )
    if decision == "approve":
        chosen = [pk for pk, value in scores.items() if value >= threshold]
        reason = ""
    else:
        chosen = [pk for pk, value in scores.items() if value < threshold]
        reason = f"{kind} below {threshold}"
    for record in Record.objects.filter(pk__in=chosen).order_by("id"):
        item_review(record=record, user=user, decision=decision, reason=reason)
    audit(user, f"batch.bulk_{decision}", project=job.project, target=f"job {job.pk}",
          threshold=threshold, kind=kind, count=len(chosen))  # fmt: skip
    return len(chosen)


def filter_revert(*, job: Job, user: User) -> int:
    """Undo a filter run: every record it dropped is back. The decisions stay as history."""
    require(user, job.project, Action.RUN_MODEL_JOB)
    if job.kind != Job.Kind.FILTER:
        raise ValidationError(f"job {job.pk} is not a filter run")
    with transaction.atomic():
        restored = Record.objects.filter(filtered_by=job).update(filtered_by=None)
        Job.objects.filter(pk=job.pk).update(
            metrics={**job.metrics, "reverted_at": timezone.now().isoformat(),
                     "reverted_by": user.username, "restored": restored}
        )  # fmt: skip
        audit(user, "filter.revert", project=job.project, target=f"job {job.pk}",
              restored=restored)  # fmt: skip
    return restored
