"""Storing labels. Annotations are append-only: nothing here updates or deletes a label."""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Subquery, When
from django.utils import timezone

from annotation import task_types
from annotation.models import MAX_SECONDS_SPENT, Annotation, Assignment, Comment, Source
from annotation.services.claims import HAS_MODEL_LABEL, SUGGESTION_SOURCES, lease_fulfil
from curator.algorithms.calibration import near_chance
from curator.models import Project, Record, Round, RoutingDecision, Split, User
from curator.models.validation import field_errors
from curator.permissions import Action, require

MAX_COMMENT = 4000


def label_clean(project: Project, record: Record, raw: Any) -> Any:
    """The submitted value in its stored shape for the project's task type, or ValidationError
    about the field `value`."""
    with field_errors("value"):
        return task_types.clean_value(
            project.task_type, project.labels, record.payload, raw, project.settings_obj.text_field
        )


def suggestion_for(record: Record) -> Annotation | None:
    """The model label to offer beside a record (Enter accepts it), if any; see
    `suggestion_with_reason` for what is not offered and why."""
    return suggestion_with_reason(record)[0]


def suggestion_with_reason(record: Record) -> tuple[Annotation | None, Annotation | None, str]:
    """(the label offered, the label withheld, why it was withheld).

    Spot checks and gold records are blind: a person checking a model, or being checked, must
    not see the answer first. Nor is a label suggested whose confidence routing distrusted (the
    record's text looked like instructions): that label may be the one an attacker asked for.
    A label the model barely prefers over a guess, or a verdict of a judge that mostly picks a
    position, is shown muted with its reason instead: "Enter accepts" would invite people to
    copy a coin toss.
    """
    if record.split == Split.GOLD or record.route == RoutingDecision.Decision.SPOT_CHECK:
        return None, None, ""
    if getattr(record, HAS_MODEL_LABEL, True) is False:
        return None, None, ""  # the claim that loaded it saw no model label: nothing to look up
    distrusted = RoutingDecision.objects.filter(annotation=OuterRef("pk")).exclude(reason="")
    # A round classifier's label exists only where that round measured it the better source
    # (workers/jobs/round_suggestions.py), so it goes before the LLM's; then the newest. Only
    # the latest finished classifier round speaks: an earlier round's label left on a record
    # still in the queue (overlap > 1) is not offered once a later round decided otherwise.
    latest_round = (
        Round.objects.filter(
            project_id=record.project_id, kind="classifier", status=Round.Status.SUCCEEDED
        )
        .order_by("-number")
        .values("id")[:1]
    )
    latest = (
        Annotation.objects.filter(record=record)
        .filter(Q(source=Source.LLM) | Q(source=Source.MODEL, round_id=Subquery(latest_round)))
        .exclude(Exists(distrusted))
        .select_related("job__round")
        .order_by(Case(When(source=Source.MODEL, then=0), default=1), "-id")
        .first()
    )
    if latest is None:
        return None, None, ""
    reason = _withheld_because(record.project, latest)
    return (None, latest, reason) if reason else (latest, None, "")


def suggestion_origin(label: Annotation) -> str:
    """Who suggests a label, as the card names it: the LLM, or a round's classifier with the
    gold accuracy that made it the better source."""
    round_ = label.job.round if label.job else None
    if label.source != Source.MODEL or round_ is None:
        return "The LLM" if label.source == Source.LLM else "The model"
    accuracy = (round_.metrics or {}).get("accuracy")
    measured = f" ({accuracy:.0%} right on gold)" if isinstance(accuracy, int | float) else ""
    return f"Round {round_.number}'s classifier{measured}"


def _withheld_because(project: Project, label: Annotation) -> str:
    settings = project.settings_obj
    bias = (label.job.metrics or {}).get("position_bias_rate") if label.job else None
    if isinstance(bias, int | float) and bias > settings.suggestion_max_position_bias:
        return (
            f"the judge's verdicts flipped with the order of the answers on {bias:.0%} of pairs "
            f"(over {settings.suggestion_max_position_bias:.0%})"
        )
    choices = task_types.get(project.task_type).chance_choices(project.labels)
    if label.confidence is not None and near_chance(
        label.confidence, choices, settings.suggestion_min_margin
    ):
        chance = 1 / choices
        return f"confidence {label.confidence:.2f} is near chance ({chance:.2f}, {choices} choices)"
    return ""


def _suggestion_accepted(
    project: Project, record: Record, value: Any, suggestion_id: int | None
) -> bool | None:
    task = task_types.get(project.task_type)
    in_payload = task.suggestion_in_payload_accepted(record.payload, value)
    if in_payload is not None:  # e.g. a correction's draft, accepted when left unedited
        return in_payload
    if not suggestion_id:
        return None
    suggestion = (
        Annotation.objects.filter(
            pk=suggestion_id, record_id=record.pk, source__in=SUGGESTION_SOURCES
        )
        .values_list("value", flat=True)
        .first()
    )
    if suggestion is None:
        return None
    return task.same_value(suggestion, value)


def annotation_submit(
    *,
    assignment: Assignment,
    user: User,
    value: Any,
    seconds_spent: float | None = None,
    suggestion_id: int | None = None,
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
    record = assignment.record
    seconds_spent = _seconds_checked(seconds_spent)
    cleaned = label_clean(project, record, value)
    annotation = Annotation(
        record_id=assignment.record_id,
        project=project,
        value=cleaned,
        source=Source.HUMAN,
        author=user,
        seconds_spent=seconds_spent,
        suggestion_accepted=_suggestion_accepted(project, record, cleaned, suggestion_id),
    )
    # The common case, a live lease, in one statement; the rest below, step by step.
    if connection.vendor == "postgresql" and lease_fulfil(assignment, annotation, timezone.now()):
        return annotation
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if locked.state == Assignment.State.SUBMITTED and locked.annotation_id:
            return Annotation.objects.get(pk=locked.annotation_id)
        annotation.save()
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


def _seconds_checked(seconds: float | None) -> float | None:
    """The time a label took: finite and within a day, or refused (nothing is stored)."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValidationError({"seconds_spent": "must be a number of seconds"})
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_SECONDS_SPENT):
        raise ValidationError(
            {"seconds_spent": f"must be a number of seconds from 0 to {MAX_SECONDS_SPENT:g}"}
        )
    return float(seconds)


def latest_version(annotation: Annotation) -> Annotation:
    """The newest label its author gave the same record (the end of its edit chain)."""
    return (
        Annotation.objects.filter(
            record_id=annotation.record_id, author_id=annotation.author_id, source=annotation.source
        )
        .order_by("-id")
        .first()
    ) or annotation


def annotation_revise(
    *, annotation: Annotation, user: User, value: Any, seconds_spent: float | None = None
) -> Annotation:
    """Correct one's own label: a new row that supersedes the latest version, never an update."""
    if annotation.author_id != user.pk or annotation.source != Source.HUMAN:
        raise PermissionDenied("only the annotator who gave a label can revise it")
    project = annotation.project
    require(user, project, Action.ANNOTATE)
    seconds_spent = _seconds_checked(seconds_spent)
    cleaned = label_clean(project, annotation.record, value)
    with transaction.atomic():
        # Two quick edits of the same label must chain, not fork.
        Record.objects.select_for_update().filter(pk=annotation.record_id).first()
        current = latest_version(annotation)
        if current.value == cleaned:
            return current  # nothing changed: no new row
        return Annotation.objects.create(
            record_id=annotation.record_id,
            project=project,
            value=cleaned,
            source=Source.HUMAN,
            author=user,
            seconds_spent=seconds_spent,
            supersedes=current,
            suggestion_accepted=current.suggestion_accepted,
        )


def last_own_annotation(project: Project, user: User) -> Annotation | None:
    """What undo goes back to: the annotator's most recent label in this project."""
    return (
        Annotation.objects.select_related("record")
        .filter(project=project, author=user, source=Source.HUMAN)
        .order_by("-id")
        .first()
    )


def comment_add(*, record: Record, user: User, text: str, flag: bool) -> Comment:
    require(user, record.project, Action.ANNOTATE)
    text = (text or "").strip()
    if not text and not flag:
        raise ValidationError({"text": "write a comment or flag the record"})
    if len(text) > MAX_COMMENT:
        raise ValidationError({"text": f"a comment is at most {MAX_COMMENT} characters"})
    return Comment.objects.create(
        record=record, project=record.project, author=user, text=text, flag=flag
    )
