"""LLM-as-judge: pairwise comparisons in both orders, or pointwise ratings against a rubric."""

from __future__ import annotations

from annotation import task_types
from curator import value_rules as rules
from curator.job_kinds import CHUNK_SIZE, RECORD_IDS, JobKind

# It judges any record holding a prompt and two responses (or one, pointwise), whatever the
# project; its verdicts are labels (suggestions) only where the task compares two responses.
LABELS_FOR = task_types.supporting(task_types.JUDGE)

FIELD = rules.text(200)  # a payload key
PARAMS = {
    "mode": rules.choice(("pairwise", "pointwise")),
    "prompt_field": FIELD,
    "a_field": FIELD,
    "b_field": FIELD,
    "response_field": FIELD,
    "human_field": FIELD,
    "rubric": rules.text(4000),
    # Model identities (null: the project's LLM).
    "judges": rules.list_of(rules.optional(rules.text(300)), 8),
    "scale": rules.whole(2, 10),
    "chunk_size": CHUNK_SIZE,
    "record_ids": RECORD_IDS,  # only these records (a data manager selection)
}


KIND = JobKind(
    name="judge",
    label="LLM judge",
    queue="gpu",
    runner="workers.jobs.judge.RUNNER",
    params=PARAMS,
    startable=True,
    pipeline_step=True,
    card_template="curator/job_cards/judge.html",
    button="Run the LLM judge on every pair",
    button_task_types=LABELS_FOR,
    records_via="scores__job",
)
