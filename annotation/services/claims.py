"""The claim of a queue record: one SQL statement on PostgreSQL.

`record_claim` picks the annotator's next record, takes one of its overlap slots and leases it
to them in a single `UPDATE ... RETURNING` (inside a statement that also inserts the lease), so
a claim costs one round trip and one short row lock, however many annotators ask at once:

- the candidate is found with `FOR UPDATE SKIP LOCKED`, so concurrent annotators fan out over
  different rows instead of queueing behind one lock;
- the slot is taken by the conditional `claimed_count < overlap`, so two claims can never both
  take a record's last slot;
- the lease is the INSERT of the same statement, so the annotator's one-lease constraint failing
  (a parallel request of theirs won) rolls the slot back with it: no savepoint, no undo.

The candidate is read from the `record_waiting_queue` partial index, keyed by claimed count:
with overlap 1 the scan starts at the first unclaimed record, so `next` costs the same at 1% and
at 90% of a project labeled (it used to walk past every claimed record in index order). With a
larger overlap a second branch reads the records some annotators started (claimed_count between
1 and overlap - 1), a set as small as the work in progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from django.db import connection, models

from annotation.models import Annotation, Assignment, RecordAssignee, Source
from curator.models import Record

M = TypeVar("M", bound=models.Model)

# Must say what the `record_waiting_queue` index's condition says, word for word, so the
# planner proves the index applies (`waiting_condition` in annotation.selectors is the same rule
# for the ORM).
_WAITING = (
    "r.project_id = %(project)s AND r.split = 'pool' AND r.review = '' "
    "AND r.filtered_by_id IS NULL AND NOT r.held AND NOT (r.route = 'auto')"
)
_RECORD_COLUMNS = [field.column for field in Record._meta.concrete_fields]
_ASSIGNMENT_COLUMNS = [field.column for field in Assignment._meta.concrete_fields]
# Set on a claimed record: whether a model label exists that could be offered as a suggestion
# (the claim reads it in passing, so a record without one costs no suggestion query).
HAS_MODEL_LABEL = "has_model_label"


@dataclass(frozen=True)
class Claim:
    assignment: Assignment  # its `record` is loaded
    filled: bool  # the claim took the record's last slot


def _branch(name: str, claimed: str) -> str:
    """One candidate CTE: the first waiting record with `claimed` claims in queue order that
    this annotator has not seen and nobody reserved for someone else; locked, or skipped if
    another claim holds it."""
    return f"""
    {name} AS (
        SELECT r.id, r.priority FROM {Record._meta.db_table} r
        WHERE {_WAITING} AND {claimed}
          AND NOT EXISTS (
              SELECT 1 FROM {Assignment._meta.db_table} a
              WHERE a.record_id = r.id AND a.annotator_id = %(user)s
                AND a.state IN ('leased', 'submitted', 'skipped'))
          AND (NOT EXISTS (SELECT 1 FROM {RecordAssignee._meta.db_table} ra
                           WHERE ra.record_id = r.id)
               OR EXISTS (SELECT 1 FROM {RecordAssignee._meta.db_table} ra
                          WHERE ra.record_id = r.id AND ra.annotator_id = %(user)s))
        ORDER BY r.priority DESC, r.id
        LIMIT 1
        FOR UPDATE OF r SKIP LOCKED
    )"""  # noqa: S608 - table names from model metadata, values are parameters


def _statement(overlap: int) -> str:
    record, assignment = Record._meta.db_table, Assignment._meta.db_table
    branches = [_branch("unclaimed", "r.claimed_count = 0")]
    pick = "SELECT id, 1 AS rank, priority FROM unclaimed"
    if overlap > 1:
        started = "r.claimed_count >= 1 AND r.claimed_count < %(overlap)s"
        branches.append(_branch("started", started))
        pick += " UNION ALL SELECT id, 1, priority FROM started"
    # Records a curator reserved for this annotator come before the rest of the queue.
    mine = f"""
    mine AS (
        SELECT r.id, r.priority FROM {RecordAssignee._meta.db_table} ra
        JOIN {record} r ON r.id = ra.record_id
        WHERE ra.annotator_id = %(user)s AND {_WAITING} AND r.claimed_count < %(overlap)s
          AND NOT EXISTS (
              SELECT 1 FROM {assignment} a
              WHERE a.record_id = r.id AND a.annotator_id = %(user)s
                AND a.state IN ('leased', 'submitted', 'skipped'))
        ORDER BY r.priority DESC, r.id
        LIMIT 1
        FOR UPDATE OF r SKIP LOCKED
    )"""  # noqa: S608
    returned = ", ".join(f"r.{column}" for column in _RECORD_COLUMNS)
    leased = ", ".join(f"leased.{column}" for column in _ASSIGNMENT_COLUMNS)
    claimed_columns = ", ".join(f"claimed.{column}" for column in _RECORD_COLUMNS)
    return f"""
    WITH {mine}, {", ".join(branches)},
    candidate AS (
        SELECT id FROM (SELECT id, 0 AS rank, priority FROM mine UNION ALL {pick}) AS c
        ORDER BY rank, priority DESC, id LIMIT 1
    ),
    claimed AS (
        UPDATE {record} r SET claimed_count = r.claimed_count + 1
        FROM candidate WHERE r.id = candidate.id AND r.claimed_count < %(overlap)s
        RETURNING {returned}
    ),
    leased AS (
        INSERT INTO {assignment}
            (record_id, project_id, annotator_id, state, lease_expires_at, skip_reason,
             created_at)
        SELECT id, %(project)s, %(user)s, 'leased',
            now() + %(lease)s * interval '1 second', '', now()
        FROM claimed
        RETURNING *
    )
    SELECT {leased}, {claimed_columns},
        EXISTS (SELECT 1 FROM {Annotation._meta.db_table} m
                WHERE m.record_id = claimed.id AND m.source IN (%(llm)s, %(model)s))
    FROM leased JOIN claimed ON claimed.id = leased.record_id
    """  # noqa: S608


def record_claim(project_id: int, user_id: int, overlap: int, lease: timedelta) -> Claim | None:
    """Claim the annotator's next queue record and lease it to them (PostgreSQL only).

    None when no record is free for them right now (the queue is empty, or every candidate is
    locked by another claim at this instant). Raises IntegrityError when they already hold a
    lease in the project; the statement then changed nothing.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _statement(overlap),
            {
                "project": project_id,
                "user": user_id,
                "overlap": overlap,
                "lease": lease.total_seconds(),
                "llm": Source.LLM,
                "model": Source.MODEL,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_ASSIGNMENT_COLUMNS)
    assignment = _loaded(Assignment, row[:split])
    record = _loaded(Record, row[split:-1])
    setattr(record, HAS_MODEL_LABEL, row[-1])
    assignment.record = record
    return Claim(assignment=assignment, filled=record.claimed_count >= overlap)


def _loaded(model: type[M], values: tuple) -> M:
    """A model instance from raw column values, converted as a queryset would (JSON decoded)."""
    fields = model._meta.concrete_fields
    converted = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)
