"""Self-rewarding pairs: the promoted LLM answers prompts several times, the judge or the promoted
reward model ranks its answers, and best-versus-worst pairs arrive as a batch for curators."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from annotation.task_types.base import DPO
from annotation.task_types.registry import TASK_TYPES as ALL_TASK_TYPES
from curator.job_kinds import JobKind, ParamsRefused, ResultLink

if TYPE_CHECKING:
    from curator.models import Project

# Pairs are what DPO trains on: the kind fits the task types whose settled choices feed it.
TASK_TYPES = tuple(task.name for task in ALL_TASK_TYPES if DPO in task.round_kinds)
RANKERS = ("judge", "reward")
MAX_PROMPTS = 2000
MAX_CANDIDATES = 8
MAX_NEW_TOKENS = 1024


def _number(params: Mapping[str, Any], key: str, default: float, low: float, high: float,
            whole: bool = True) -> None:  # fmt: skip
    try:
        value = (int if whole else float)(params.get(key, default))
    except (TypeError, ValueError):
        raise ParamsRefused(f"{key} must be a {'whole ' if whole else ''}number") from None
    if not low <= value <= high:
        raise ParamsRefused(f"{key} must be between {low:g} and {high:g}")


def _check(project: Project, params: Mapping[str, Any]) -> None:
    if project.task_type not in TASK_TYPES:
        raise ParamsRefused("self-rewarding pairs are made for pairwise preference projects")
    _number(params, "limit", 20, 1, MAX_PROMPTS)
    _number(params, "n", 4, 2, MAX_CANDIDATES)
    _number(params, "temperature", 0.8, 0.05, 2.0, whole=False)
    _number(params, "max_new_tokens", 96, 1, MAX_NEW_TOKENS)
    _number(params, "seed", 0, 0, 2**31 - 1)
    if params.get("ranker", "judge") not in RANKERS:
        raise ParamsRefused(f"ranker must be one of {', '.join(RANKERS)}")
    given = params.get("prompt_records")
    if given is not None:
        if (
            not isinstance(given, list)
            or not given
            or len(given) > MAX_PROMPTS
            or not all(isinstance(pk, int) and not isinstance(pk, bool) for pk in given)
        ):
            raise ParamsRefused("prompt_records must be a list of record ids")
        found = project.records.filter(pk__in=given, payload__has_key="prompt").count()
        if found != len(set(given)):
            raise ParamsRefused("prompt_records must be records of this project with a prompt")


PARAMS = frozenset({
    "limit", "n", "temperature", "max_new_tokens", "seed", "ranker", "prompt_records",
    "chunk_size",
})  # fmt: skip


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
    task_types=TASK_TYPES,
    results=(ResultLink("batch", "Review the batch"),),
    records_via="created_by_job",
)
