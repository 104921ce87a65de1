"""Synthetic generation: new labeled examples from seeds, rewrites, contrast sets, documents;
for correction projects, new instructions with the LLM's response (SFT items)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from annotation import task_types
from curator import value_rules as rules
from curator.job_kinds import (
    CHUNK_SIZE,
    MAX_NEW_TOKENS,
    RECORD_ID,
    SEED,
    JobKind,
    KindUnfit,
    ParamsRefused,
    ResultLink,
)

if TYPE_CHECKING:
    from curator.models import Project

# Every generator of any task type; each task type offers its own (`TaskType.generators`).
GENERATORS = (task_types.INSTRUCTION, task_types.REWRITE, task_types.ADVERSARIAL,
              task_types.GROUNDED)  # fmt: skip
MAX_GENERATED = 2000
TASK_TYPES = task_types.supporting(task_types.GENERATE)


def generators(project: Project) -> tuple[str, ...]:
    """The generators that work for the project's task type (empty: no generation)."""
    return task_types.get(project.task_type).generators


def _check(project: Project, params: Mapping[str, Any]) -> None:
    task = task_types.get(project.task_type)
    if project.task_type not in TASK_TYPES:
        raise KindUnfit(f"generation is not offered for {task.title.lower()} projects")
    offered = ", ".join(task.generators)
    if params.get("generator") not in task.generators:  # the rule checks the value's type
        raise ParamsRefused(
            f"generator must be one of {offered} for this project",
            {"generator": f"must be one of {offered} for this project"},
        )
    if params["generator"] == task_types.GROUNDED and not project.documents.exists():
        raise KindUnfit("grounded generation needs a document: upload one first")
    labels = params.get("labels")
    if labels is not None and task.generation != task_types.LABELED_TEXT:
        raise ParamsRefused(
            "labels apply to label-set projects only",
            {"labels": "apply to label-set projects only"},
        )
    if labels is not None and (
        not isinstance(labels, list) or set(map(str, labels)) - set(project.label_values)
    ):
        raise ParamsRefused(
            "labels must be a list of this project's labels",
            {"labels": "must be a list of this project's labels"},
        )


PARAMS = {
    "generator": rules.choice(GENERATORS),
    "count": rules.whole(1, MAX_GENERATED),
    "labels": rules.list_of(rules.text(200), 1000),
    "temperature": rules.between(0, 2),
    "max_new_tokens": MAX_NEW_TOKENS,
    # Instruction items: the longest response, after a prompt of at most max_new_tokens.
    "response_max_new_tokens": MAX_NEW_TOKENS,
    "seed": SEED,
    "chunk_size": CHUNK_SIZE,
    "documents": rules.list_of(RECORD_ID, 1000),
}


KIND = JobKind(
    name="generate",
    label="Synthetic generation",
    queue="gpu",
    runner="workers.jobs.generate.RUNNER",
    params=PARAMS,
    check=_check,
    startable=True,
    pipeline_step=True,
    review_batch=True,
    task_types=TASK_TYPES,
    results=(ResultLink("batch", "Review the batch"),),
    records_via="created_by_job",
)
