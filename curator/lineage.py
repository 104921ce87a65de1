"""Lineage reads: where a record came from, what was made from it, everything that happened to
it, and what changed between two rounds' training sets. Recursive SQL, no writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection

from annotation.models import Annotation
from curator.model_version_selectors import ModelVersionUse, record_model_versions
from curator.models import (
    FilterDecision,
    Job,
    LineageEdge,
    NoiseFlag,
    Record,
    Round,
    RoundSnapshotItem,
    RoutingDecision,
    Score,
)

MAX_DEPTH = 50  # lineage chains are short; the bound only guards against a cycle


@dataclass(frozen=True)
class Link:
    record_id: int
    depth: int  # 1 = direct parent (ancestors) or child (descendants)
    operation: str
    via: int  # the record on the other side of this edge
    job_id: int | None


def _walk(record_id: int, upwards: bool) -> list[Link]:
    table = LineageEdge._meta.db_table
    near, far = ("child_id", "parent_id") if upwards else ("parent_id", "child_id")
    sql = f"""
        WITH RECURSIVE walk(record_id, depth, operation, via, job_id) AS (
            SELECT {far}, 1, operation, {near}, job_id FROM {table}
            WHERE {near} = %s AND parent_id <> child_id
            UNION
            SELECT e.{far}, w.depth + 1, e.operation, e.{near}, e.job_id
            FROM {table} e JOIN walk w ON e.{near} = w.record_id
            WHERE e.parent_id <> e.child_id AND w.depth < %s
        )
        SELECT record_id, MIN(depth), MIN(operation), MIN(via), MIN(job_id)
        FROM walk GROUP BY record_id ORDER BY MIN(depth), record_id
    """  # noqa: S608 - table and column names come from model metadata
    with connection.cursor() as cursor:
        cursor.execute(sql, [record_id, MAX_DEPTH])
        return [Link(*row) for row in cursor.fetchall()]


def ancestors(record_id: int) -> list[Link]:
    return _walk(record_id, upwards=True)


def descendants(record_id: int) -> list[Link]:
    return _walk(record_id, upwards=False)


@dataclass(frozen=True)
class RecordHistory:
    record: Record
    created_by_job: Job | None
    ancestors: list[Link]
    descendants: list[Link]
    annotations: list[Annotation]
    scores: Sequence[Mapping[str, Any]]  # kind, model_identity, value, job_id, round_id
    routing: list[RoutingDecision]
    filters: list[FilterDecision]
    noise_flags: list[NoiseFlag]
    trained_rounds: Sequence[Mapping[str, Any]]  # number, status, model_artifact, its label
    trained_in_rounds: list[int]  # the numbers of the rounds whose models trained on it
    model_versions: list[ModelVersionUse]  # which versions labeled, scored or generated it


def record_history(record: Record) -> RecordHistory:
    """Everything curator knows about one record, oldest first within each kind."""
    annotations = list(
        Annotation.objects.filter(record=record)
        .select_related("author", "job")
        .prefetch_related("adjudicates")
        .order_by("id")
    )
    rounds = list(
        Round.objects.filter(snapshot_items__record=record)
        .order_by("number")
        .values("number", "status", "model_artifact", "snapshot_items__label")
    )
    return RecordHistory(
        record=record,
        created_by_job=record.created_by_job,
        ancestors=ancestors(record.pk),
        descendants=descendants(record.pk),
        annotations=annotations,
        scores=list(
            Score.objects.filter(record=record)
            .order_by("kind", "id")
            .values("kind", "model_identity", "value", "job_id", "round_id")
        ),
        routing=list(RoutingDecision.objects.filter(record=record).order_by("id")),
        filters=list(FilterDecision.objects.filter(record=record).order_by("id")),
        noise_flags=list(NoiseFlag.objects.filter(record=record).order_by("id")),
        trained_rounds=rounds,
        trained_in_rounds=rounds_using(record.pk),
        model_versions=record_model_versions(record),
    )


@dataclass(frozen=True)
class SnapshotEntry:
    record_id: int
    label: str


@dataclass(frozen=True)
class Relabel:
    record_id: int
    before: str
    after: str


@dataclass(frozen=True)
class RoundDiff:
    added: list[SnapshotEntry]
    removed: list[SnapshotEntry]
    relabeled: list[Relabel]


def round_diff(before: Round, after: Round) -> RoundDiff:
    """Records added to, removed from and relabeled in the training set between two rounds."""

    def snapshot(round_: Round) -> dict[int, str]:
        return dict(
            RoundSnapshotItem.objects.filter(round=round_).values_list("record_id", "label")
        )

    old, new = snapshot(before), snapshot(after)
    return RoundDiff(
        added=[SnapshotEntry(r, new[r]) for r in sorted(new.keys() - old.keys())],
        removed=[SnapshotEntry(r, old[r]) for r in sorted(old.keys() - new.keys())],
        relabeled=[
            Relabel(r, before=old[r], after=new[r])
            for r in sorted(old.keys() & new.keys())
            if old[r] != new[r]
        ],
    )


def rounds_using(record_id: int) -> list[int]:
    """Which rounds' models trained on this record (a round stopped by a gate trained nothing)."""
    return list(
        RoundSnapshotItem.objects.filter(record_id=record_id)
        .exclude(round__status=Round.Status.BLOCKED)
        .order_by("round__number")
        .values_list("round__number", flat=True)
    )
