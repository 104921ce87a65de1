"""Handing records to annotators.

Invariant: a record is leased or submitted by at most `overlap` distinct annotators. Each claim
is a conditional UPDATE of the record's `claimed_count` (`... WHERE claimed_count < overlap`), so
two transactions can never both take the last slot, on PostgreSQL or SQLite. On PostgreSQL the
whole claim (pick with FOR UPDATE SKIP LOCKED, take the slot, insert the lease) is one statement
(`annotation/services/claims.py`); SQLite, the demo's database, runs the same steps one by one.
Leases expire and are reclaimed lazily, by whoever asks for work next.
"""

from __future__ import annotations

import functools
import random
from datetime import timedelta

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from annotation.models import Assignment, RecordAssignee
from annotation.selectors import waiting_count_forget, waiting_count_taken, waiting_records
from annotation.services.claims import (
    HAS_MODEL_LABEL,
    MODEL_LABEL_SOURCES,
    model_label_exists,
    record_claim,
)
from curator.models import Project, Record, Split, User
from curator.models.records import REQUEUED_PRIORITY
from curator.models.rows import columns, from_row, prepared_cursor, width

RECLAIM_EVERY_SECONDS = 5
# How many times to retry when a candidate was taken between the SELECT and the claim.
MAX_CLAIM_ATTEMPTS = 20


def leases_reclaim(project: Project) -> int:
    """Expire overdue leases and give their slots back. Safe to run concurrently."""
    now = timezone.now()
    reclaimed = 0
    overdue = list(
        Assignment.objects.filter(
            project=project, state=Assignment.State.LEASED, lease_expires_at__lt=now
        ).values_list("id", "record_id")[:1000]
    )
    for assignment_id, record_id in overdue:
        with transaction.atomic():
            # The conditional UPDATE makes exactly one reclaimer win each lease.
            if Assignment.objects.filter(
                pk=assignment_id, state=Assignment.State.LEASED, lease_expires_at__lt=now
            ).update(state=Assignment.State.EXPIRED, finished_at=now):
                Record.objects.filter(pk=record_id, claimed_count__gt=0).update(
                    claimed_count=F("claimed_count") - 1
                )
                reclaimed += 1
    if reclaimed:
        waiting_count_forget(project.pk)
    return reclaimed


def current_assignment(project: Project, user: User) -> Assignment | None:
    """The annotator's live lease in the project, its record loaded (and marked with whether a
    model label exists for it, so showing it costs no suggestion query when none does).

    Written out in SQL and prepared, like the claim: every `next` and every labeling page asks
    it, and compiling the ORM's version cost more server time than PostgreSQL spent on it."""
    with prepared_cursor() as cursor:
        cursor.execute(
            _current_statement(),
            {"project": project.pk, "user": user.pk, **MODEL_LABEL_SOURCES,
             "now": connection.ops.adapt_datetimefield_value(timezone.now())},
        )  # fmt: skip
        row = cursor.fetchone()
    if row is None:
        return None
    assignment = from_row(Assignment, row[: width(Assignment)])
    assignment.record = from_row(Record, row[width(Assignment) : -1])
    assignment.project = project
    # bool(): SQLite answers EXISTS with 0 or 1, and the suggestion lookup skips only on False.
    setattr(assignment.record, HAS_MODEL_LABEL, bool(row[-1]))
    return assignment


@functools.cache
def _current_statement() -> str:
    return f"""
    SELECT {columns(Assignment, "a")}, {columns(Record, "r")}, {model_label_exists("a.record_id")}
    FROM {Assignment._meta.db_table} a JOIN {Record._meta.db_table} r ON r.id = a.record_id
    WHERE a.project_id = %(project)s AND a.annotator_id = %(user)s AND a.state = 'leased'
      AND a.lease_expires_at > %(now)s
    ORDER BY a.created_at
    LIMIT 1
    """  # noqa: S608 - table and column names from model metadata, values are parameters


def _seen_by(user: User) -> Exists:
    return Exists(
        Assignment.objects.filter(
            record=OuterRef("pk"),
            annotator=user,
            state__in=[
                Assignment.State.LEASED,
                Assignment.State.SUBMITTED,
                Assignment.State.SKIPPED,
            ],
        )
    )


def queue_for(project: Project, user: User):  # -> QuerySet[Record]
    """Records this annotator could be given next, most useful first. A record a curator
    reserved for named annotators is served to them only."""
    reserved = RecordAssignee.objects.filter(record=OuterRef("pk"))
    return (
        waiting_records(project)
        .exclude(_seen_by(user))
        .exclude(Exists(reserved) & ~Exists(reserved.filter(annotator=user)))
        .order_by("-priority", "id")
    )


def _reserved_queue_for(project: Project, user: User):  # -> QuerySet[Record]
    """The records of queue_for reserved for this annotator: they come before the rest."""
    mine = RecordAssignee.objects.filter(record=OuterRef("pk"), annotator=user)
    return (
        waiting_records(project)
        .exclude(_seen_by(user))
        .filter(Exists(mine))
        .order_by("-priority", "id")
    )


def _lease(record: Record, project: Project, user: User, lease: timedelta) -> Assignment:
    """Reserve `record` for `user`; IntegrityError when they already hold a lease (the
    one-lease-per-annotator constraint), inside its own savepoint so the caller can go on."""
    with transaction.atomic():
        return Assignment.objects.create(
            record=record, project=project, annotator=user, lease_expires_at=timezone.now() + lease
        )


def _gold_check(project: Project, user: User, lease: timedelta) -> Assignment | None:
    """A gold record this annotator has not seen, leased like any other (at the gold rate).

    Gold records take no overlap slot: every annotator can be checked on every gold record.
    Randomly ordered so that annotators cannot learn which records are the checks.
    """
    rate = project.settings_obj.gold_rate
    if rate <= 0 or random.random() >= rate:
        return None
    record = (
        Record.objects.filter(project=project, split=Split.GOLD, held=False)
        .exclude(_seen_by(user))
        .order_by("?")
        .first()
    )
    if record is None:
        return None
    try:
        return _lease(record, project, user, lease)
    except IntegrityError:
        return current_assignment(project, user)  # a parallel request of theirs won


def next_assignment(
    project: Project, user: User, *, lease_closed: bool = False
) -> Assignment | None:
    """The annotator's current lease, or a newly claimed record; None when the queue is empty.

    Asking again before submitting returns the same record, so a page reload never burns a slot.
    `lease_closed`: the caller has just closed this annotator's lease (a submit asking for the
    next record), so there is no lease to look up first; a lease taken meanwhile by a parallel
    request still wins, through the one-lease-per-annotator constraint the claim runs into.
    """
    if not lease_closed:
        existing = current_assignment(project, user)
        if existing is not None:
            return existing
    # Reclaiming scans the live-lease index; once every few seconds per project is enough, and an
    # empty queue always triggers it (see below), so no expired lease is ever left behind.
    if cache.add(f"leases-reclaimed:{project.pk}", True, RECLAIM_EVERY_SECONDS):
        leases_reclaim(project)
    overlap = project.settings_obj.overlap
    lease = timedelta(seconds=project.settings_obj.lease_seconds)
    gold = _gold_check(project, user, lease)
    if gold is not None:
        return gold
    claim = _claim_postgresql if connection.vendor == "postgresql" else _claim_portable
    return claim(project, user, overlap, lease)


def _claim_postgresql(
    project: Project, user: User, overlap: int, lease: timedelta
) -> Assignment | None:
    for _ in range(MAX_CLAIM_ATTEMPTS):
        try:
            if connection.in_atomic_block:
                # Inside a caller's transaction a failed statement would abort it: a savepoint.
                with transaction.atomic():
                    claim = record_claim(project.pk, user.pk, overlap, lease)
            else:
                claim = record_claim(project.pk, user.pk, overlap, lease)  # one statement
        except IntegrityError:
            # A parallel request of the same annotator won the lease: use theirs. The failed
            # statement took no slot.
            existing = current_assignment(project, user)
            if existing is not None:
                return existing
            leases_reclaim(project)  # or their lease ran out and still holds the place
            continue
        if claim is None:
            if leases_reclaim(project):
                continue  # expired leases gave records back: try again
            return None
        if claim.filled:
            transaction.on_commit(lambda: waiting_count_taken(project.pk))
        claim.assignment.project = project
        return claim.assignment
    return None


def _claim_portable(
    project: Project, user: User, overlap: int, lease: timedelta
) -> Assignment | None:
    """The claim on SQLite, step by step: pick, conditional UPDATE, lease in a savepoint."""
    # Only a person someone reserved records for pays for the second query.
    reserved = RecordAssignee.objects.filter(annotator=user, record__project=project).exists()
    for _ in range(MAX_CLAIM_ATTEMPTS):
        with transaction.atomic():
            candidates = queue_for(project, user)
            if reserved and _reserved_queue_for(project, user).exists():
                candidates = _reserved_queue_for(project, user)
            record = candidates.first()
            if record is None:
                if leases_reclaim(project):
                    continue  # expired leases gave records back: try again
                return None
            record_id = record.pk
            claimed = Record.objects.filter(pk=record_id, claimed_count__lt=overlap).update(
                claimed_count=F("claimed_count") + 1
            )
            if not claimed:
                continue
            if record.claimed_count + 1 >= overlap:
                transaction.on_commit(lambda: waiting_count_taken(project.pk))
            try:
                return _lease(record, project, user, lease)
            except IntegrityError:
                # A parallel request of the same annotator won: undo our slot, use theirs.
                Record.objects.filter(pk=record_id).update(claimed_count=F("claimed_count") - 1)
                existing = current_assignment(project, user)
                if existing is not None:
                    return existing
    return None


def assignment_skip(assignment: Assignment, reason: str = "") -> None:
    """Give the record back to the queue; this annotator will not see it again."""
    with transaction.atomic():
        if Assignment.objects.filter(pk=assignment.pk, state=Assignment.State.LEASED).update(
            state=Assignment.State.SKIPPED, skip_reason=reason[:200], finished_at=timezone.now()
        ):
            Record.objects.filter(pk=assignment.record_id, claimed_count__gt=0).update(
                claimed_count=F("claimed_count") - 1
            )
            transaction.on_commit(lambda: waiting_count_forget(assignment.project_id))


def record_requeue(record: Record) -> int:
    """Send a record back to the queue (a curator's decision): free every slot it holds.

    Its submitted labels stay (they are history); the annotators who gave them may be asked
    again, and the record goes to the front of the queue until the next round re-scores it.
    """
    with transaction.atomic():
        returned = Assignment.objects.filter(
            record=record, state__in=[Assignment.State.LEASED, Assignment.State.SUBMITTED]
        ).update(state=Assignment.State.RETURNED, finished_at=timezone.now())
        Record.objects.filter(pk=record.pk).update(
            claimed_count=0, route="", priority=REQUEUED_PRIORITY
        )
        transaction.on_commit(lambda: waiting_count_forget(record.project_id))
    return returned
