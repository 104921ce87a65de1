"""Train a round: embed, train, evaluate on gold, score the pool (started by a round)."""

from __future__ import annotations

from curator.job_kinds import JobKind

KIND = JobKind(
    name="round",
    label="Round",
    queue="gpu",
    runner="workers.jobs.round.round_run",
)
