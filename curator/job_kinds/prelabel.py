"""LLM pre-labeling with calibrated confidence, and routing to auto-accept or people."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from annotation import task_types
from curator import value_rules as rules
from curator.job_kinds import (
    CHUNK_SIZE,
    MAX_NEW_TOKENS,
    RECORD_IDS,
    SEED,
    JobKind,
    KindUnfit,
    ResultLink,
)

if TYPE_CHECKING:
    from curator.models import Project

# Label sets are scored (a rating scale is one too; multi-label is a yes/no question per label);
# correction gets drafts written and spans suggested phrases. Pairwise preferences come from the
# judge job.
TASK_TYPES = task_types.supporting(task_types.PRELABEL)


def _check(project: Project, params: Mapping[str, Any]) -> None:
    if project.task_type not in TASK_TYPES:
        raise KindUnfit(
            f"LLM pre-labeling does not cover {project.get_task_type_display().lower()} "
            "projects: run the judge, whose verdicts become the suggestions"
        )


PARAMS = {
    "limit": rules.whole(1, 10_000_000),
    "few_shot_per_label": rules.whole(0, 50),
    "auto_accept_threshold": rules.between(0, 1),
    "spot_check_rate": rules.between(0, 1),
    "self_consistency": rules.whole(0, 20),
    "seed": SEED,
    "system_template": rules.text(4000),
    "user_template": rules.text(2000),
    "chunk_size": CHUNK_SIZE,
    "max_new_tokens": MAX_NEW_TOKENS,
    "record_ids": RECORD_IDS,  # only these records (a data manager selection)
}


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
    task_types=TASK_TYPES,
    button="Pre-label with the LLM",
    results=(ResultLink("review", "Review page", per_job=False),),
    records_via="routing__job",
)
