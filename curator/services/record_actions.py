"""The data manager's bulk actions on a selection or a whole filtered set of records.

Each action checks the actor's permission, writes with set-based UPDATEs (a filtered set may be
a million rows), and leaves one audit event that says what was done to how many records and
which filter chose them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotation.labels import training_labels
from annotation.models import Annotation, RecordAssignee, Source
from annotation.selectors import waiting_count_forget
from curator import job_kinds
from curator.errors import NotStartable
from curator.models import Job, Project, Record, Split, User
from curator.models.records import CURATOR_HOLD_REASON as HOLD_REASON
from curator.models.records import REQUEUED_PRIORITY
from curator.permissions import Action, require
from curator.services.audit import audit
from curator.services.model_jobs import model_job_start

# Actions whose work is one UPDATE need no cap; these copy ids into a row or a job's params.
MAX_GOLD = 10_000
MAX_JOB_RECORDS = job_kinds.MAX_RECORD_IDS
MAX_ASSIGN = 100_000


class BulkRefused(NotStartable):
    """The action cannot run on this set; the message is for the user."""


# action -> what the data manager's menu calls it
ACTIONS = {
    "prioritise": "Send to the front of the queue",
    "hold": "Hold from training",
    "clear": "Clear the hold",
    "assign": "Assign to annotators",
    "gold": "Mark as gold",
    "model_job": "Start a model job on them",
}
# Model jobs that accept a set of records (their `record_ids` parameter).
RECORD_JOBS = ("prelabel", "toxicity", "judge")


@dataclass(frozen=True)
class BulkResult:
    action: str
    count: int
    message: str
    job: Job | None = None


def _ids(records: QuerySet[Record], project: Project, cap: int | None = None) -> list[int]:
    ids = records.filter(project=project).order_by("id").values_list("id", flat=True)
    if cap is None:
        return list(ids)
    found = list(ids[: cap + 1])
    if len(found) > cap:
        raise BulkRefused(f"at most {cap:,} records at once; narrow the filter")
    return found


def records_bulk_act(
    *,
    project: Project,
    user: User,
    action: str,
    records: QuerySet[Record],
    annotators: list[User] | None = None,
    job_kind: str = "",
    described: dict[str, Any] | None = None,
) -> BulkResult:
    """Apply `action` to `records` (only those of `project` are touched). `described` is the
    filter that chose them, kept in the audit log."""
    require(user, project, Action.REVIEW)
    if action not in ACTIONS:
        raise BulkRefused(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    records = records.filter(project=project)
    described = described or {}
    if action == "model_job":
        return _model_job(project, user, records, job_kind, described)
    if action == "assign":
        return _assign(project, user, records, annotators or [], described)
    if action == "gold":
        return _gold(project, user, records, described)
    with transaction.atomic():
        if action == "prioritise":
            # Only pool records are in a queue; the next round's scores replace this priority.
            count = records.filter(split=Split.POOL).update(priority=REQUEUED_PRIORITY)
            message = f"{count} record(s) moved to the front of the queue"
        elif action == "hold":
            count = records.filter(held=False).update(held=True, held_reason=HOLD_REASON)
            message = f"{count} record(s) held from training"
        else:  # clear
            count = records.filter(held=True).update(
                held=False, hold_cleared_by=user, hold_cleared_at=timezone.now()
            )
            message = f"{count} hold(s) cleared; those records may train"
        audit(user, f"records.{action}", project=project, target=f"{count} records",
              filters=described)  # fmt: skip
        if action in ("hold", "clear"):  # records left or rejoined the annotators' queue
            transaction.on_commit(lambda: waiting_count_forget(project.pk))
    return BulkResult(action, count, message)


def _assign(
    project: Project, user: User, records: QuerySet[Record], annotators: list[User],
    described: dict[str, Any],
) -> BulkResult:  # fmt: skip
    members = set(project.memberships.values_list("user_id", flat=True))
    outsiders = [a.username for a in annotators if a.pk not in members]
    if outsiders:
        raise BulkRefused(f"not members of this project: {', '.join(outsiders)}")
    if not annotators:
        raise BulkRefused("name at least one annotator")
    ids = _ids(records, project, MAX_ASSIGN)
    with transaction.atomic():
        RecordAssignee.objects.bulk_create(
            [RecordAssignee(record_id=r, annotator=a, assigned_by=user) for r in ids
             for a in annotators],
            ignore_conflicts=True, batch_size=2000,
        )  # fmt: skip
        names = [a.username for a in annotators]
        audit(user, "records.assign", project=project, target=f"{len(ids)} records",
              annotators=names, filters=described)  # fmt: skip
    return BulkResult("assign", len(ids), f"{len(ids)} record(s) reserved for {', '.join(names)}")


def _gold(
    project: Project, user: User, records: QuerySet[Record], described: dict[str, Any]
) -> BulkResult:
    """Gold needs a truth: each record with a training label keeps it as a curator's review
    label (the source gold is read from) and moves to the gold split; records without one stay
    where they are and are counted as skipped."""
    ids = _ids(records.exclude(split=Split.GOLD), project, MAX_GOLD)
    labels = training_labels(project)
    labeled = [record_id for record_id in ids if record_id in labels]
    values = dict(
        Annotation.objects.filter(pk__in=[labels[r][0] for r in labeled]).values_list("id", "value")
    )
    with transaction.atomic():
        Annotation.objects.bulk_create(
            [
                Annotation(
                    record_id=record_id, project=project, value=values[labels[record_id][0]],
                    source=Source.REVIEW, author=user,
                )
                for record_id in labeled
            ],
            batch_size=2000,
        )  # fmt: skip
        Record.objects.filter(pk__in=labeled).update(split=Split.GOLD)
        audit(user, "records.gold", project=project, target=f"{len(labeled)} records",
              skipped_unlabeled=len(ids) - len(labeled), filters=described)  # fmt: skip
    skipped = len(ids) - len(labeled)
    message = f"{len(labeled)} record(s) marked gold with their current label"
    if skipped:
        message += f"; {skipped} without a label skipped (label them first)"
    return BulkResult("gold", len(labeled), message)


def _model_job(
    project: Project, user: User, records: QuerySet[Record], kind: str,
    described: dict[str, Any],
) -> BulkResult:  # fmt: skip
    require(user, project, Action.RUN_MODEL_JOB)
    if kind not in RECORD_JOBS or kind not in job_kinds.startable():
        raise BulkRefused(f"a job on chosen records is one of {', '.join(RECORD_JOBS)}")
    ids = _ids(records, project, MAX_JOB_RECORDS)
    if not ids:
        raise BulkRefused("no records selected")
    job = model_job_start(project=project, kind=kind, user=user, params={"record_ids": ids})
    audit(user, "records.model_job", project=project, target=f"job {job.pk}",
          records=len(ids), filters=described)  # fmt: skip
    return BulkResult(
        "model_job", len(ids), f"{job.get_kind_display()} job {job.pk} started on "
        f"{len(ids)} record(s)", job=job,
    )  # fmt: skip
