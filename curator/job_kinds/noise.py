"""Label-noise detection: cross-validated confident learning over people's labels."""

from __future__ import annotations

from curator import value_rules as rules
from curator.job_kinds import SEED, JobKind

KIND = JobKind(
    name="noise",
    label="Label-noise detection",
    queue="gpu",
    runner="workers.jobs.noise.noise_run",
    params={
        "folds": rules.whole(2, 20),
        "seed": SEED,
        "limit": rules.whole(1, 10_000_000),
        "relabel": rules.boolean,
    },
    startable=True,
    pipeline_step=True,
    card_template="curator/job_cards/noise.html",
)
