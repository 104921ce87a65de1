"""Synthetic generation: new labeled examples from seeds, rewrites, contrast sets, documents."""

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
)

if TYPE_CHECKING:
    from curator.models import Project

GENERATORS = ("instruction", "rewrite", "adversarial", "grounded")
MAX_GENERATED = 2000
TASK_TYPES = task_types.supporting(task_types.GENERATE)


def _check(project: Project, params: Mapping[str, Any]) -> None:
    if project.task_type not in TASK_TYPES:
        raise KindUnfit("generation writes labeled examples for label-set projects")
    if "generator" not in params:  # its rule checks its value
        raise ParamsRefused(
            f"generator must be one of {', '.join(GENERATORS)}",
            {"generator": f"must be one of {', '.join(GENERATORS)}"},
        )
    if params["generator"] == "grounded" and not project.documents.exists():
        raise KindUnfit("grounded generation needs a document: upload one first")
    labels = params.get("labels")
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
)
