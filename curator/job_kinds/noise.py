"""Label-noise detection: cross-validated confident learning over people's labels."""

from __future__ import annotations

from curator.job_kinds import JobKind

KIND = JobKind(
    name="noise",
    label="Label-noise detection",
    queue="gpu",
    runner="workers.jobs.noise.noise_run",
    params=frozenset({"folds", "seed", "limit", "relabel"}),
    startable=True,
    pipeline_step=True,
    card_template="curator/job_cards/noise.html",
)
