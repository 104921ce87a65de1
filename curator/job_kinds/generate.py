"""Synthetic generation: new labeled examples from seeds, rewrites, contrast sets, documents;
for correction projects, new instructions with the LLM's response (SFT items)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from annotation import task_types
from curator.job_kinds import JobKind, ParamsRefused

if TYPE_CHECKING:
    from curator.models import Project

MAX_GENERATED = 2000
MAX_NEW_TOKENS = 1024
TASK_TYPES = task_types.supporting(task_types.GENERATE)


def generators(project: Project) -> tuple[str, ...]:
    """The generators that work for the project's task type (empty: no generation)."""
    return task_types.get(project.task_type).generators


def _check(project: Project, params: Mapping[str, Any]) -> None:
    task = task_types.get(project.task_type)
    if project.task_type not in TASK_TYPES:
        raise ParamsRefused(f"generation is not offered for {task.title.lower()} projects")
    if params.get("generator") not in task.generators:
        raise ParamsRefused(
            f"generator must be one of {', '.join(task.generators)} for this project"
        )
    try:
        count = int(params.get("count", 20))
    except (TypeError, ValueError):
        raise ParamsRefused("count must be a whole number") from None
    if not 1 <= count <= MAX_GENERATED:
        raise ParamsRefused(f"count must be between 1 and {MAX_GENERATED}")
    if params["generator"] == "grounded" and not project.documents.exists():
        raise ParamsRefused("grounded generation needs a document: upload one first")
    for key in ("max_new_tokens", "response_max_new_tokens"):
        if key in params:
            try:
                tokens = int(params[key])
            except (TypeError, ValueError):
                raise ParamsRefused(f"{key} must be a whole number") from None
            if not 1 <= tokens <= MAX_NEW_TOKENS:
                raise ParamsRefused(f"{key} must be between 1 and {MAX_NEW_TOKENS}")
    labels = params.get("labels")
    if labels is not None and task.generation != task_types.LABELED_TEXT:
        raise ParamsRefused("labels apply to label-set projects only")
    if labels is not None and (
        not isinstance(labels, list) or set(map(str, labels)) - set(project.label_values)
    ):
        raise ParamsRefused("labels must be a list of this project's labels")


PARAMS = frozenset({
    "generator", "count", "labels", "temperature", "max_new_tokens", "seed", "chunk_size",
    "documents", "response_max_new_tokens",
})  # fmt: skip


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
)
