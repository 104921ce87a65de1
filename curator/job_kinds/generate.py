"""Synthetic generation: new labeled examples from seeds, rewrites, contrast sets, documents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from annotation import task_types
from curator.job_kinds import JobKind, ParamsRefused, ResultLink

if TYPE_CHECKING:
    from curator.models import Project

GENERATORS = ("instruction", "rewrite", "adversarial", "grounded")
MAX_GENERATED = 2000
TASK_TYPES = task_types.supporting(task_types.GENERATE)


def _check(project: Project, params: Mapping[str, Any]) -> None:
    if project.task_type not in TASK_TYPES:
        raise ParamsRefused("generation writes labeled examples for label-set projects")
    if params.get("generator") not in GENERATORS:
        raise ParamsRefused(f"generator must be one of {', '.join(GENERATORS)}")
    try:
        count = int(params.get("count", 20))
    except (TypeError, ValueError):
        raise ParamsRefused("count must be a whole number") from None
    if not 1 <= count <= MAX_GENERATED:
        raise ParamsRefused(f"count must be between 1 and {MAX_GENERATED}")
    if params["generator"] == "grounded" and not project.documents.exists():
        raise ParamsRefused("grounded generation needs a document: upload one first")
    labels = params.get("labels")
    if labels is not None and (
        not isinstance(labels, list) or set(map(str, labels)) - set(project.label_values)
    ):
        raise ParamsRefused("labels must be a list of this project's labels")


PARAMS = frozenset({
    "generator", "count", "labels", "temperature", "max_new_tokens", "seed", "chunk_size",
    "documents",
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
    task_types=TASK_TYPES,
    results=(ResultLink("batch", "Review the batch"),),
    records_via="created_by_job",
)
