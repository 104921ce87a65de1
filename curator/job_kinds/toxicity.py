"""Score records for toxicity and hold the ones at or above the threshold out of training."""

from __future__ import annotations

from curator.job_kinds import JobKind

KIND = JobKind(
    name="toxicity",
    label="Toxicity",
    queue="gpu",
    runner="workers.jobs.toxicity.RUNNER",
    # record_ids: only these records (the data manager's "start a model job on them").
    params=frozenset({"threshold", "rescore", "chunk_size", "record_ids"}),
    startable=True,
    card_template="curator/job_cards/toxicity.html",
)
