"""Writing model scores and the queue priority they imply. Idempotent: upsert by natural key."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from curator.models import Job, Record, Round, Score

BATCH = 2000


def scores_store(
    *,
    round_: Round | None,
    kind: str,
    model_identity: str,
    job: Job,
    record_ids: Sequence[int],
    values: Sequence[float],
) -> None:
    for start in range(0, len(record_ids), BATCH):
        Score.objects.bulk_create(
            [
                Score(
                    record_id=record_id,
                    kind=kind,
                    round=round_,
                    model_identity=model_identity,
                    value=float(value),
                    job=job,
                )
                for record_id, value in zip(
                    record_ids[start : start + BATCH], values[start : start + BATCH], strict=True
                )
            ],
            update_conflicts=True,
            unique_fields=["record", "kind", "model_identity"],
            update_fields=["value", "round", "job"],
        )


def priorities_set(record_ids: Sequence[int], values: Sequence[float]) -> None:
    """Copy scores to Record.priority, which orders the annotation queue."""
    table = Record._meta.db_table
    for start in range(0, len(record_ids), BATCH * 5):
        ids = [int(i) for i in record_ids[start : start + BATCH * 5]]
        vals = [float(v) for v in values[start : start + BATCH * 5]]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} AS r SET priority = v.p "  # noqa: S608
                    "FROM unnest(%s::bigint[], %s::float8[]) AS v(id, p) WHERE r.id = v.id",
                    [ids, vals],
                )
        else:
            records = [Record(pk=i, priority=v) for i, v in zip(ids, vals, strict=True)]
            Record.objects.bulk_update(records, ["priority"], batch_size=500)
