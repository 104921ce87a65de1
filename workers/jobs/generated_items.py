"""Writing what a generation job made: a pending record for curators, its lineage edge to the
seed it came from, and the model's label as an LLM annotation. One place for every generator
(label-set texts in `generate`, instruction items in `generate_instructions`)."""

from __future__ import annotations

from typing import Any

from annotation.models import Annotation, Source
from curator.algorithms import judging
from curator.hashing import content_hash
from curator.models import Job, LineageEdge, Origin, Record, ReviewState, Split
from curator.models.records import QUALITY_KIND
from workers.jobs.project_llm import job_llm
from workers.jobs.reward_scores import reward_scores_store
from workers.jobs.scores import scores_store

# The operation of a seed's edge to itself: nothing usable came back, and the seed is done (a
# redelivered chunk does not ask the model again).
FAILED = "generate-failed"


def seeds_to_do(job: Job, seed_ids: list[int]) -> list[int]:
    """The seeds of a chunk this job has not written an edge from yet (an item or a failure):
    a redelivered chunk does only what is left."""
    done = set(
        LineageEdge.objects.filter(job=job, parent_id__in=seed_ids).values_list(
            "parent_id", flat=True
        )
    )
    return [pk for pk in seed_ids if pk not in done]


def seed_failed(job: Job, seed_id: int) -> None:
    LineageEdge.objects.get_or_create(
        parent_id=seed_id, child_id=seed_id, operation=FAILED, job=job
    )


def generated_item_store(
    job: Job,
    *,
    payload: dict[str, Any],
    origin: Origin,
    source: dict[str, Any],
    seed_id: int | None,
    intended: Any,
) -> Record | None:
    """The item as a pending pool record (content-addressed, so a second delivery writes
    nothing twice), linked to its seed; None when that content was there already."""
    project = job.project
    record, is_new = Record.objects.get_or_create(
        project=project,
        content_hash=content_hash(payload),
        defaults={
            "payload": payload,
            "origin": origin,
            "split": Split.POOL,
            "created_by_job": job,
            "review": ReviewState.PENDING,
            "source": source,
        },
    )
    if seed_id is not None:
        LineageEdge.objects.get_or_create(
            parent_id=seed_id, child=record, operation=job.params["generator"], job=job
        )
    if not is_new:
        return None
    Annotation.objects.create(
        record=record, project=project, value=intended, source=Source.LLM, job=job
    )
    return record


def quality_and_reward_store(
    job: Job,
    record_ids: list[int],
    prompts: list[str],
    responses: list[str],
    rubric: str,
    version: str,
) -> None:
    """The judge's expected 1-5 rating of each response to its prompt (score kind `quality`,
    under the identity `<llm>|<version>`), then the promoted reward model's score, if any."""
    llm = job_llm(job)
    messages = [
        judging.rating_messages(prompt, response, rubric)
        for prompt, response in zip(prompts, responses, strict=True)
    ]
    quality = judging.expected_rating(llm.option_logprobs(messages, ["1", "2", "3", "4", "5"]))
    scores_store(round_=None, kind=QUALITY_KIND, model_identity=f"{llm.identity}|{version}",
                 job=job, record_ids=record_ids, values=quality.tolist())  # fmt: skip
    reward_scores_store(job, record_ids, prompts, responses)
