"""The round lifecycle: the only code that writes `Round.status`.

Allowed moves (target <- the statuses it may come from):

    running    <- queued            the round job claimed the round
    succeeded  <- running           training and every pipeline step are done
    failed     <- queued, running   the job failed, or could not be sent to the broker at all
    blocked    <- queued, running   a gate stopped the round before it trained
    cancelled  <- queued, running   an admin stopped it

A round is created `queued` (the model default); nothing moves a round back to `queued`, and a
finished round (succeeded, failed, blocked, cancelled) never moves again. Each move is one
conditional UPDATE (`WHERE status IN (sources)`), so two writers racing (a worker finishing while
an admin cancels) cannot both win, and the caller learns whether its move happened.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from curator.json_values import json_safe
from curator.models import Job, Round

Status = Round.Status
UNFINISHED: tuple[str, ...] = (Status.QUEUED, Status.RUNNING)
FINISHED: tuple[str, ...] = (Status.SUCCEEDED, Status.FAILED, Status.BLOCKED, Status.CANCELLED)

TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.RUNNING: (Status.QUEUED,),
    Status.SUCCEEDED: (Status.RUNNING,),
    Status.FAILED: UNFINISHED,
    Status.BLOCKED: UNFINISHED,
    Status.CANCELLED: UNFINISHED,
}

# A failure reason is for people on the round page; the job row keeps the full error.
MAX_REASON = 500


def round_move(
    round_id: int, target: str, *, metrics: dict[str, Any] | None = None, **fields: Any
) -> bool:
    """Move the round to `target` if the table allows it from its current status.

    Returns whether the move happened. `metrics` are merged into the round's metrics in the same
    write; other `fields` (model artifact, sha256) are set as given. Finished targets stamp
    `finished_at`. Raises ValueError for a target no move leads to (e.g. back to queued).
    """
    try:
        sources = TRANSITIONS[target]
    except KeyError:
        raise ValueError(f"no round moves to {str(target)!r}") from None
    updates: dict[str, Any] = {"status": target, **fields}
    if target in FINISHED:
        updates["finished_at"] = timezone.now()
    return _update(round_id, sources, updates, metrics)


def _update(
    round_id: int, sources: tuple[str, ...], updates: dict[str, Any], metrics: dict[str, Any] | None
) -> bool:
    """One conditional UPDATE; with metrics, merged into the stored ones under a row lock."""
    if metrics is None:
        return bool(Round.objects.filter(pk=round_id, status__in=sources).update(**updates))
    with transaction.atomic():
        # The row lock makes read-merge-write of the metrics safe against a concurrent move.
        found = list(
            Round.objects.select_for_update()
            .filter(pk=round_id, status__in=sources)
            .values_list("metrics", flat=True)
        )
        if not found:
            return False
        updates = {**updates, "metrics": json_safe({**(found[0] or {}), **metrics})}
        return bool(Round.objects.filter(pk=round_id, status__in=sources).update(**updates))


def round_begin(round_id: int) -> bool:
    """queued -> running, when the round job starts."""
    return round_move(round_id, Status.RUNNING)


def round_succeed(round_id: int, *, metrics: dict[str, Any] | None = None, **fields: Any) -> bool:
    return round_move(round_id, Status.SUCCEEDED, metrics=metrics, **fields)


def round_fail(round_id: int, reason: str) -> bool:
    """The round ends failed with the reason on its page; a later round can start at once."""
    lines = (reason or "").strip().splitlines()
    return round_move(
        round_id, Status.FAILED, metrics={"error": (lines[0] if lines else "failed")[:MAX_REASON]}
    )


def round_block(round_id: int, *, gate: str, reason: str, gates: list[dict[str, Any]]) -> bool:
    """A gate stopped the round before it trained; the page says which gate and why."""
    return round_move(
        round_id, Status.BLOCKED, metrics={"blocked_by": gate, "reason": reason, "gates": gates}
    )


def round_stop(round_id: int) -> bool:
    """queued or running -> cancelled."""
    return round_move(round_id, Status.CANCELLED)


def round_record(round_id: int, *, metrics: dict[str, Any], **fields: Any) -> bool:
    """Store a running round's results without moving it (pipeline steps are still to come).

    Not a status write: only a round that is still running takes the results, so a round cancelled
    meanwhile keeps its cancelled state and gets no model.
    """
    return _update(round_id, (Status.RUNNING,), fields, metrics)


def round_job_failed(job: Job) -> None:
    """One of the round's jobs failed, or could not be sent: the round ends failed with why."""
    if job.round_id is None:
        return
    error = Job.objects.filter(pk=job.pk).values_list("error", flat=True).first() or ""
    round_fail(job.round_id, f"{job.get_kind_display()} job failed: {error}")
