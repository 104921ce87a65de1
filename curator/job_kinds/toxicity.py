"""Score records for toxicity and hold the ones at or above the threshold out of training."""

from __future__ import annotations

from curator.job_kinds import JobKind, ResultLink

KIND = JobKind(
    name="toxicity",
    label="Toxicity",
    queue="gpu",
    runner="workers.jobs.toxicity.RUNNER",
    params=frozenset({"threshold", "rescore", "chunk_size"}),
    startable=True,
    card_template="curator/job_cards/toxicity.html",
    button="Score toxicity",
    results=(ResultLink("held-records", "Held records", per_job=False),),
    records_via="scores__job",
)
