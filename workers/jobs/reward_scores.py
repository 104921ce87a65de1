"""The `reward` score of generated items, by the project's promoted reward model.

No promoted reward version: no score is written (and nothing is loaded), so batches of projects
without one look exactly as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from curator.model_version_selectors import promoted_version
from curator.models import Job, ModelVersion
from curator.models.records import REWARD_KIND
from workers.jobs.project_llm import version_adapter
from workers.jobs.scores import scores_store

if TYPE_CHECKING:
    from workers.inference.reward import RewardModel


def version_reward_model(version: ModelVersion) -> RewardModel:
    """The reward model of a registered reward version (its base with the trained adapter)."""
    # Imported on use: scoring with a reward model is rare, and its module loads transformers.
    from workers.inference.reward import get_reward_model

    return get_reward_model(version.base_model, version_adapter(version))


def reward_scores_store(
    job: Job, record_ids: list[int], prompts: list[str], responses: list[str]
) -> bool:
    """Score each (prompt, response) with the promoted reward model; False when none is."""
    version = promoted_version(job.project, ModelVersion.Role.REWARD)
    if version is None or not record_ids:
        return False
    model = version_reward_model(version)
    values = model.score(prompts, responses).tolist()
    scores_store(round_=None, kind=REWARD_KIND, model_identity=model.identity, job=job,
                 record_ids=record_ids, values=values)  # fmt: skip
    return True
