"""Self-rewarding pairs: the promoted LLM answers prompts several times, the judge or the promoted
reward model ranks its answers, and best-versus-worst pairs arrive as a batch for curators."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from annotation.task_types.base import DPO
from annotation.task_types.registry import TASK_TYPES as ALL_TASK_TYPES
from curator import value_rules as rules
from curator.job_kinds import CHUNK_SIZE, RECORD_ID, SEED, JobKind, KindUnfit, ParamsRefused

if TYPE_CHECKING:
    from curator.models import Project

# Pairs are what DPO trains on: the kind fits the task types whose settled choices feed it.
TASK_TYPES = tuple(task.name for task in ALL_TASK_TYPES if DPO in task.round_kinds)
RANKERS = ("judge", "reward")
MAX_PROMPTS = 2000
MAX_CANDIDATES = 8
MAX_NEW_TOKENS = 1024


def _check(project: Project, params: Mapping[str, Any]) -> None:
    if project.task_type not in TASK_TYPES:
        raise KindUnfit("self-rewarding pairs are made for pairwise preference projects")
    given = params.get("prompt_records")
    if given is not None:
        if not given:
            raise ParamsRefused(
                "prompt_records must list record ids", {"prompt_records": "must list record ids"}
            )
        found = project.records.filter(pk__in=given, payload__has_key="prompt").count()
        if found != len(set(given)):
            message = "must be records of this project with a prompt"
            raise ParamsRefused(f"prompt_records {message}", {"prompt_records": message})


PARAMS = {
    "limit": rules.whole(1, MAX_PROMPTS),
    "n": rules.whole(2, MAX_CANDIDATES),
    "temperature": rules.between(0.05, 2.0),
    "max_new_tokens": rules.whole(1, MAX_NEW_TOKENS),
    "seed": SEED,
    "ranker": rules.choice(RANKERS),
    "prompt_records": rules.list_of(RECORD_ID, MAX_PROMPTS),
    "chunk_size": CHUNK_SIZE,
}


KIND = JobKind(
    name="self_reward",
    label="Self-rewarding pairs",
    queue="gpu",
    runner="workers.jobs.self_reward.RUNNER",
    params=PARAMS,
    check=_check,
    startable=True,
    pipeline_step=True,
    review_batch=True,
    card_template="curator/job_cards/self_reward.html",
)
