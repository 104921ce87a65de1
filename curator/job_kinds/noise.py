"""Label-noise detection: cross-validated confident learning over people's labels."""

from __future__ import annotations

from annotation.task_types.registry import TASK_TYPES as ALL_TASK_TYPES
from curator import value_rules as rules
from curator.algorithms.curation import NOISE_FILTERS
from curator.job_kinds import SEED, JobKind, ResultLink

# Its out-of-fold classifier needs one class per label: the task types a classifier round
# trains on.
TASK_TYPES = tuple(task.name for task in ALL_TASK_TYPES if task.trainable)

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
        "filter_by": rules.choice(NOISE_FILTERS),
        "repeats": rules.whole(1, 20),
        "neighbours": rules.whole(0, 200),
    },
    startable=True,
    pipeline_step=True,
    task_types=TASK_TYPES,
    results=(ResultLink("data", "Suspected label errors", per_job=False),),
    records_via="noise_flags__job",
    card_template="curator/job_cards/noise.html",
)
