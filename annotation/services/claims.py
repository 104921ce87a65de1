"""The claim of a queue record and the submit that fulfils its lease: one SQL statement each
on PostgreSQL, prepared once per connection (`curator.models.rows.prepared_cursor`).

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

`lease_fulfil` stores a label for a live lease and closes it in one statement (the row lock of
its first step serialises a double submit); anything else (an expired or skipped lease, a
second submit) goes the step-by-step way in `annotation_submit`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection

from annotation.models import Annotation, Assignment, RecordAssignee, Source
from curator.models import Record
from curator.models.rows import columns, from_row, prepared_cursor, width

# Must say what the `record_waiting_queue` index's condition says, word for word, so the
# planner proves the index applies (`waiting_condition` in annotation.selectors is the same rule
# for the ORM).
_WAITING = (
    "r.project_id = %(project)s AND r.split = 'pool' AND r.review = '' "
    "AND r.filtered_by_id IS NULL AND NOT r.held AND NOT (r.route = 'auto')"
)
# Set on a claimed record: whether a model label exists that could be offered as a suggestion
# (the claim reads it in passing, so a record without one costs no suggestion query).
HAS_MODEL_LABEL = "has_model_label"
# Where a suggestion can come from: the LLM's labels and a round classifier's.
SUGGESTION_SOURCES = (Source.LLM, Source.MODEL)
# The parameters `model_label_exists` names.
MODEL_LABEL_SOURCES = dict(zip(("llm", "model"), SUGGESTION_SOURCES, strict=True))


def model_label_exists(record_id: str) -> str:
    """SQL: whether a model label (the LLM's or a round classifier's) exists for the record
    whose id is the expression `record_id`; read in passing by the claim and the live-lease
    read, to set HAS_MODEL_LABEL. Needs MODEL_LABEL_SOURCES among the parameters."""
    return f"""EXISTS (SELECT 1 FROM {Annotation._meta.db_table} m
                WHERE m.record_id = {record_id} AND m.source IN (%(llm)s, %(model)s))"""  # noqa: S608


@dataclass(frozen=True)
class Claim:
    assignment: Assignment  # its `record` is loaded
    filled: bool  # the claim took the record's last slot


def _branch(name: str, claimed: str, order: str = "r.priority DESC, r.id") -> str:
    """One candidate CTE: the first waiting record with `claimed` claims in `order` that
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
        ORDER BY {order}
        LIMIT 1
        FOR UPDATE OF r SKIP LOCKED
    )"""  # noqa: S608 - table names from model metadata, values are parameters


@functools.cache
def _statement(overlap: int) -> str:
    record, assignment = Record._meta.db_table, Assignment._meta.db_table
    # "< 1" and the claim count leading the order say "= 0" and "queue order" in the words of
    # the `record_waiting_queue` index alone: with "= 0" the planner also saw `record_queue_order`
    # deliver the order, and while the table's statistics still said nothing was claimed (until
    # autovacuum's next ANALYZE) it could pick that index and walk past every claimed record.
    branches = [
        _branch("unclaimed", "r.claimed_count < 1", "r.claimed_count, r.priority DESC, r.id")
    ]
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
    returned = columns(Record, "r")
    leased = columns(Assignment, "leased")
    claimed_columns = columns(Record, "claimed")
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
    SELECT {leased}, {claimed_columns}, {model_label_exists("claimed.id")}
    FROM leased JOIN claimed ON claimed.id = leased.record_id
    """  # noqa: S608


def record_claim(project_id: int, user_id: int, overlap: int, lease: timedelta) -> Claim | None:
    """Claim the annotator's next queue record and lease it to them (PostgreSQL only).

    None when no record is free for them right now (the queue is empty, or every candidate is
    locked by another claim at this instant). Raises IntegrityError when they already hold a
    lease in the project; the statement then changed nothing.
    """
    with prepared_cursor() as cursor:
        cursor.execute(
            _statement(overlap),
            {
                "project": project_id,
                "user": user_id,
                "overlap": overlap,
                "lease": lease.total_seconds(),
                **MODEL_LABEL_SOURCES,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    split = width(Assignment)
    assignment = from_row(Assignment, row[:split])
    record = from_row(Record, row[split:-1])
    setattr(record, HAS_MODEL_LABEL, row[-1])
    assignment.record = record
    return Claim(assignment=assignment, filled=record.claimed_count >= overlap)


@functools.cache
def _fulfil_statement() -> str:
    assignment, annotation = Assignment._meta.db_table, Annotation._meta.db_table
    inserted = _INSERTED_ANNOTATION_FIELDS
    names = ", ".join(str(field.column) for field in inserted)
    # Typed casts: the values arrive as literals in a SELECT list, not in VALUES.
    values = ", ".join(f"CAST(%s AS {field.cast_db_type(connection)})" for field in inserted)
    returned = ", ".join(str(field.column) for field in Annotation._meta.concrete_fields)
    return f"""
    WITH locked AS (
        SELECT id FROM {assignment}
        WHERE id = %s AND annotator_id = %s AND state = 'leased'
        FOR UPDATE
    ), stored AS (
        INSERT INTO {annotation} ({names}) SELECT {values} FROM locked RETURNING {returned}
    ), closed AS (
        UPDATE {assignment} a SET state = 'submitted', annotation_id = stored.id,
            finished_at = %s
        FROM stored WHERE a.id = %s
    )
    SELECT {returned} FROM stored
    """  # noqa: S608 - table and column names from model metadata, values are parameters


_INSERTED_ANNOTATION_FIELDS = [f for f in Annotation._meta.concrete_fields if not f.primary_key]


def lease_fulfil(assignment: Assignment, annotation: Annotation, finished_at: datetime) -> bool:
    """Store the unsaved `annotation` and close the live lease `assignment` with it, in one
    statement (PostgreSQL only): the label and the closed lease are written together or not
    at all, as a transaction of four statements used to do. False when the assignment is no
    longer a live lease of its annotator (submitted already, expired, skipped): nothing was
    written, and the caller decides. True: `annotation` now has its id and stored values.

    A parallel submit of the same lease waits on the row lock, then finds it closed (False).
    """
    fields = _INSERTED_ANNOTATION_FIELDS
    values = [
        field.get_db_prep_save(field.pre_save(annotation, True), connection) for field in fields
    ]
    with prepared_cursor() as cursor:
        cursor.execute(
            _fulfil_statement(),
            [assignment.pk, assignment.annotator_id, *values, finished_at, assignment.pk],
        )
        row = cursor.fetchone()
    if row is None:
        return False
    stored = from_row(Annotation, row)
    for field in Annotation._meta.concrete_fields:
        setattr(annotation, field.attname, getattr(stored, field.attname))
    annotation._state.adding = False
    annotation._state.db = stored._state.db
    return True
