"""Score records for toxicity and hold the ones at or above the threshold out of training."""

from __future__ import annotations

from curator import value_rules as rules
from curator.job_kinds import CHUNK_SIZE, RECORD_IDS, JobKind, ResultLink

KIND = JobKind(
    name="toxicity",
    label="Toxicity",
    queue="gpu",
    runner="workers.jobs.toxicity.RUNNER",
    params={
        "threshold": rules.between(0, 1),
        "rescore": rules.boolean,
        "chunk_size": CHUNK_SIZE,
        "record_ids": RECORD_IDS,  # only these records (a data manager selection)
    },
    startable=True,
    card_template="curator/job_cards/toxicity.html",
    button="Score toxicity",
    results=(ResultLink("held-records", "Held records", per_job=False),),
    records_via="scores__job",
)
