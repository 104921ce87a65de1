"""LLM pre-labeling with calibrated confidence, and routing to auto-accept or people."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from annotation import task_types
from curator.job_kinds import JobKind, ParamsRefused

if TYPE_CHECKING:
    from curator.models import Project

# Label sets are scored (a rating scale is one too; multi-label is a yes/no question per label);
# correction gets drafts written and spans suggested phrases. Pairwise preferences come from the
# judge job.
TASK_TYPES = task_types.supporting(task_types.PRELABEL)


def _check(project: Project, params: Mapping[str, Any]) -> None:
    if project.task_type not in TASK_TYPES:
        raise ParamsRefused(
            f"LLM pre-labeling does not cover {project.get_task_type_display().lower()} "
            "projects: run the judge, whose verdicts become the suggestions"
        )


PARAMS = frozenset({
    "limit", "few_shot_per_label", "auto_accept_threshold", "spot_check_rate", "self_consistency",
    "seed", "system_template", "user_template", "chunk_size", "max_new_tokens", "record_ids",
})  # fmt: skip


KIND = JobKind(
    name="prelabel",
    label="LLM pre-label",
    queue="gpu",
    runner="workers.jobs.prelabel.RUNNER",
    params=PARAMS,
    check=_check,
    startable=True,
    pipeline_step=True,
    card_template="curator/job_cards/prelabel.html",
)
