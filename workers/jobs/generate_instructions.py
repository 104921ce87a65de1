"""Generated instruction items for correction projects: a new prompt and the LLM's response.

Generators (job param `generator`):
- instruction: a new request written from a few seed prompts of the project (few-shot);
- rewrite: a paraphrase of one seed prompt that asks for the same thing.

The project's LLM (the promoted version, pinned per job) writes the prompt, then answers it. The
item is a Record {prompt, draft: the response} (origin synthetic or rewrite, review "pending")
linked to its seed prompt by a LineageEdge (the few-shot examples are named in its source), with
the response as the job's `llm` annotation. A curator approves it as it is or with a corrected
response (a `review` label, edited: true); that label is what the next `sft` round's snapshot
reads through annotation/labels.py. Pending and rejected items never train.

Seeds are prompts that may train (`selectors.training_prompts`): gold prompts are never shown to
the generator, so nothing it writes copies one. Before anyone sees an item it is scored:
toxicity, judge quality (1-5) of the response to the prompt, the promoted reward model's score
when there is one, and (when the batch is complete) near-duplication of the prompt against the
project's prompts.
"""

from __future__ import annotations

import hashlib
import random
import re

import torch
from django.db import transaction

from annotation import task_types
from curator.algorithms import curation
from curator.models import Job, Origin, Record
from curator.models.records import TOXICITY_KIND
from curator.selectors import training_prompts
from workers.inference.toxicity import get_toxicity_scorer
from workers.jobs.generated_items import (
    generated_item_store,
    quality_and_reward_store,
    seed_failed,
    seeds_to_do,
)
from workers.jobs.project_llm import job_llm
from workers.jobs.scores import scores_store

DEFAULTS = {"count": 20, "temperature": 0.8, "max_new_tokens": 60, "response_max_new_tokens": 160,
            "seed": 0}  # fmt: skip
TEMPLATES = {
    task_types.INSTRUCTION: (
        "Here are examples of requests people send to an assistant:\n{examples}\n\n"
        "Write one new request of the same kind about a different subject. "
        "Reply with the request only."
    ),
    task_types.REWRITE: (
        "Rewrite the request below in different words; keep exactly what it asks for. "
        "Reply with the rewritten request only.\n\nRequest: {prompt}"
    ),
}
QUALITY_RUBRIC = (
    "Rate how good the response is as an answer to the request: helpful, correct, on-topic and "
    "complete."
)
EXAMPLES = 3  # seed prompts shown to the instruction generator, the unit's own among them
MAX_PROMPT_CHARS = 600
MAX_RESPONSE_CHARS = 4000
# Dedup compares prompts: two items answering the same request teach the same thing.
DEDUP_FIELD = "prompt"


def plan(job: Job) -> list[int]:
    """Choose the seed prompts (one item each) and, for `instruction`, each one's few-shot
    companions."""
    llm = job_llm(job)  # first: it pins the model version into job.params
    params = {**DEFAULTS, **job.params}
    generator = params["generator"]
    prompts = training_prompts(job.project)
    rng = random.Random(int(params["seed"]))
    ids = sorted(prompts)
    rng.shuffle(ids)
    chosen = sorted(ids[: int(params["count"])])
    examples: dict[str, list[int]] = {}
    if generator == task_types.INSTRUCTION:
        for pk in chosen:
            others = [other for other in ids if other != pk]
            examples[str(pk)] = rng.sample(others, min(EXAMPLES - 1, len(others)))
    params.update({"template": TEMPLATES[generator], "llm": llm.identity, "examples": examples})
    Job.objects.filter(pk=job.pk).update(params=params, model_identity={"llm": llm.identity})
    job.params = params
    return chosen


def _instruction_messages(template: str, seed: str, examples: list[str]) -> list[dict]:
    prompt = template.replace("{prompt}", seed[:MAX_PROMPT_CHARS]).replace(
        "{examples}", "\n".join(f"- {e[:300]}" for e in examples)
    )
    return [{"role": "user", "content": prompt}]


def _clean_prompt(reply: str) -> str:
    text = reply.strip().split("\n\n")[0].strip()
    text = re.sub(r"^(new )?(request|instruction|rewritten request)\s*:\s*", "", text,
                  flags=re.IGNORECASE)  # fmt: skip
    return text.strip().strip('"').strip()[:MAX_PROMPT_CHARS]


def _seed_torch(job: Job, units: list[int]) -> None:
    """Seeded by (job, its units): a chunk that runs again writes the same items."""
    key = f"{job.pk}:{','.join(map(str, units))}"
    torch.manual_seed(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16))


def process(job: Job, seed_ids: list[int]) -> None:
    params = job.params
    seeds = seeds_to_do(job, seed_ids)
    if not seeds:
        return
    companions = {pk: [int(e) for e in params["examples"].get(str(pk), [])] for pk in seeds}
    wanted = set(seeds) | {e for ids in companions.values() for e in ids}
    prompts = {
        pk: str(prompt)
        for pk, prompt in Record.objects.filter(pk__in=wanted).values_list("id", "payload__prompt")
    }
    seeds = [pk for pk in seeds if pk in prompts]  # a seed deleted since the plan is skipped
    requests = [
        _instruction_messages(
            params["template"],
            prompts[pk],
            [*[prompts[e] for e in companions[pk] if e in prompts], prompts[pk]],
        )
        for pk in seeds
    ]
    _seed_torch(job, seeds)
    llm = job_llm(job)
    temperature = float(params["temperature"])
    written = [
        _clean_prompt(reply)
        for reply in llm.generate(
            requests, max_new_tokens=int(params["max_new_tokens"]), temperature=temperature
        )
    ]
    usable = []
    for pk, request, new_prompt in zip(seeds, requests, written, strict=True):
        shown = {curation.normalise(prompts[e]) for e in [pk, *companions[pk]] if e in prompts}
        if new_prompt and curation.normalise(new_prompt) not in shown:
            usable.append((pk, request, new_prompt))
    responses = (
        llm.generate(
            [[{"role": "user", "content": new_prompt}] for _, _, new_prompt in usable],
            max_new_tokens=int(params["response_max_new_tokens"]),
            temperature=temperature,
        )
        if usable
        else []
    )
    answered = {
        pk: (request, new_prompt, response.strip()[:MAX_RESPONSE_CHARS])
        for (pk, request, new_prompt), response in zip(usable, responses, strict=True)
    }
    _store(job, seeds, answered, companions)


def _store(
    job: Job,
    seeds: list[int],
    answered: dict[int, tuple[list[dict], str, str]],
    companions: dict[int, list[int]],
) -> None:
    project = job.project
    task = task_types.get(project.task_type)
    params = job.params
    generator = params["generator"]
    origin = Origin.REWRITE if generator == task_types.REWRITE else Origin.SYNTHETIC
    created: list[tuple[int, str, str]] = []
    with transaction.atomic():
        for seed_id in seeds:
            request, prompt, response = answered.get(seed_id, (None, "", ""))
            if request is None or not response:
                seed_failed(job, seed_id)
                continue
            payload = {"prompt": prompt, "draft": response}
            record = generated_item_store(
                job,
                payload=payload,
                origin=origin,
                source={
                    "generator": generator,
                    "seed": seed_id,
                    "examples": companions.get(seed_id, []),
                    "prompt": request[-1]["content"],
                    "llm": params["llm"],
                    "llm_version": params.get("llm_version"),
                    "temperature": float(params["temperature"]),
                    "max_new_tokens": int(params["max_new_tokens"]),
                    "response_max_new_tokens": int(params["response_max_new_tokens"]),
                },
                seed_id=seed_id,
                # The LLM's response is its draft and its suggested label: approving it as is
                # trains on it unedited.
                intended=task.clean(project.labels, payload, {"text": response}),
            )
            if record is not None:
                created.append((record.pk, prompt, response))
    if created:
        _score(job, created)


def _score(job: Job, created: list[tuple[int, str, str]]) -> None:
    ids = [pk for pk, _, _ in created]
    prompts = [prompt for _, prompt, _ in created]
    responses = [response for _, _, response in created]
    scorer = get_toxicity_scorer(job.project.settings_obj.toxicity_model)
    scores_store(round_=None, kind=TOXICITY_KIND, model_identity=scorer.identity, job=job,
                 record_ids=ids,
                 values=scorer.score([f"{p}\n{r}" for p, r in zip(prompts, responses, strict=True)]
                                     ).tolist())  # fmt: skip
    quality_and_reward_store(job, ids, prompts, responses, QUALITY_RUBRIC, "quality-sft-v1")
