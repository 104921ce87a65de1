"""LLM-as-judge: pairwise comparisons in both orders, or pointwise ratings against a rubric."""

from __future__ import annotations

from annotation import task_types
from curator.job_kinds import JobKind

# It judges any record holding a prompt and two responses (or one, pointwise), whatever the
# project; its verdicts are labels (suggestions) only where the task compares two responses.
LABELS_FOR = task_types.supporting(task_types.JUDGE)

PARAMS = frozenset({
    "mode", "prompt_field", "a_field", "b_field", "response_field", "human_field", "rubric",
    "judges", "scale", "chunk_size",
})  # fmt: skip


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
