"""Self-rewarding preference pairs under human review (Self-Rewarding LMs, SynPO).

For each chosen prompt the project's LLM (the promoted version, pinned per job) samples n
candidate responses; the promoted reward model scores them (ranker "reward", when one is
promoted) or the judge runs a round-robin tournament over them, every pair in both orders
(`curator.algorithms.self_reward`). The best and the worst response become one generated
pairwise record {prompt, response_a, response_b}, the best at a seeded random position, review
"pending": it trains only once a curator approves it. The intended choice is an `llm` annotation
of the job (approving turns it into a `review` label, which the next `dpo` round's snapshot
reads); the pair links to its prompt's record by a LineageEdge, and the job records the LLM
version and the ranker's identity.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from django.db import transaction

from annotation import task_types
from annotation.models import Annotation, Source
from curator.algorithms import calibration, judging
from curator.algorithms import self_reward as ranking
from curator.curation_selectors import batch_stats
from curator.hashing import content_hash
from curator.model_version_selectors import promoted_version
from curator.models import (
    Job,
    LineageEdge,
    ModelVersion,
    Origin,
    Record,
    ReviewState,
    Score,
    Split,
)
from curator.models.records import JUDGE_MARGIN_KIND, REWARD_GAP_KIND, TOXICITY_KIND
from curator.selectors import training_prompts
from workers.inference.toxicity import get_toxicity_scorer
from workers.jobs.fanout import FannedOut
from workers.jobs.project_llm import job_llm
from workers.jobs.reward_scores import version_reward_model
from workers.jobs.scores import scores_store

DEFAULTS = {"limit": 20, "n": 4, "temperature": 0.8, "max_new_tokens": 96, "seed": 0,
            "ranker": "judge"}  # fmt: skip
OPERATION = "self_reward"
MAX_CHARS = 2000
# The judge's question (judging.SYSTEM) asks for the more helpful, honest and harmless answer.
JUDGE_METHOD = "pairwise-both-orders-round-robin-v1"


def plan(job: Job) -> list[int]:
    """Pin the models (LLM version, ranker) and choose the prompt records."""
    project = job.project
    llm = job_llm(job)  # first: it pins the model version into job.params
    params = {**DEFAULTS, **job.params}
    reward = (
        promoted_version(project, ModelVersion.Role.REWARD)
        if params["ranker"] == "reward"
        else None
    )
    identity: dict[str, Any] = {"llm": llm.identity}
    if reward is not None:
        identity["reward"] = version_reward_model(reward).identity
        params.update({"ranked_by": "reward", "reward_version": reward.pk})
    else:
        # No promoted reward model: the judge ranks (the project's LLM, as in judge jobs).
        identity["judge"] = f"{llm.identity}|{JUDGE_METHOD}"
        params.update({"ranked_by": "judge", "reward_version": None})
    params.update({"llm": llm.identity, "ranker_identity": identity.get("reward")
                   or identity["judge"]})  # fmt: skip
    Job.objects.filter(pk=job.pk).update(params=params, model_identity=identity)
    job.params, job.model_identity = params, identity
    return _prompt_records(job)


def _prompt_records(job: Job) -> list[int]:
    """Given records, or one record per distinct prompt of the pool and train split that may
    train (gold prompts never: they must stay out of training), a seeded sample of `limit`."""
    given = job.params.get("prompt_records")
    if given:
        return list(dict.fromkeys(int(pk) for pk in given))
    ids = sorted(training_prompts(job.project))
    random.Random(int(job.params["seed"])).shuffle(ids)
    return sorted(ids[: int(job.params["limit"])])


def _sample(job: Job, units: list[int], prompts: list[str]) -> list[list[str]]:
    """n sampled responses per prompt in one batched call, seeded by (seed, units): a chunk
    that runs again writes the same pairs."""
    n = int(job.params["n"])
    key = f"{job.params['seed']}:{','.join(map(str, units))}"
    torch.manual_seed(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16))
    replies = job_llm(job).generate(
        [[{"role": "user", "content": prompt}] for prompt in prompts for _ in range(n)],
        max_new_tokens=int(job.params["max_new_tokens"]),
        temperature=float(job.params["temperature"]),
    )
    return [
        [reply.strip()[:MAX_CHARS] for reply in replies[i * n : (i + 1) * n]]
        for i in range(len(prompts))
    ]


def _judge_scores(job: Job, prompt: str, candidates: list[str]) -> tuple[list[float], dict]:
    """Round-robin: every pair in both orders; score = mean probability of beating the rest."""
    pairs = ranking.round_robin_pairs(len(candidates))
    ab = [judging.pairwise_messages(prompt, candidates[i], candidates[j]) for i, j in pairs]
    ba = [judging.pairwise_messages(prompt, candidates[j], candidates[i]) for i, j in pairs]
    first = calibration.softmax(job_llm(job).option_logprobs(ab + ba, ["A", "B"]))[:, 0]
    verdicts = judging.verdicts(first[: len(pairs)], first[len(pairs) :])
    scores = ranking.round_robin_scores(len(candidates), pairs, verdicts)
    return scores, {"pairs": pairs, "verdicts": verdicts}


def _best_vs_worst(details: dict, ranked: ranking.Ranked) -> judging.PairVerdict:
    """The tournament's own verdict on best against worst, oriented so "a" is the best."""
    for (i, j), verdict in zip(details["pairs"], details["verdicts"], strict=True):
        if (i, j) == (ranked.best, ranked.worst):
            return verdict
        if (i, j) == (ranked.worst, ranked.best):
            flipped = {"a": "b", "b": "a", "tie": "tie"}[verdict.verdict]
            return judging.PairVerdict(1 - verdict.preference_a, flipped, verdict.position_biased)
    raise ValueError("best and worst were never compared")


def process(job: Job, prompt_ids: list[int]) -> None:
    done = set(
        LineageEdge.objects.filter(job=job, parent_id__in=prompt_ids).values_list(
            "parent_id", flat=True
        )
    )
    todo = list(
        Record.objects.filter(pk__in=[pk for pk in prompt_ids if pk not in done])
        .order_by("id")
        .values_list("id", "payload__prompt")
    )
    if not todo:
        return
    units = [pk for pk, _ in todo]
    samples = _sample(job, units, [str(prompt) for _, prompt in todo])
    reward = None
    if job.params["ranked_by"] == "reward":
        reward = version_reward_model(ModelVersion.objects.get(pk=job.params["reward_version"]))
    pairs = []
    for (pk, prompt), sampled in zip(todo, samples, strict=True):
        candidates = ranking.distinct_candidates(sampled)
        pair: dict[str, Any] | None = None
        if len(candidates) >= 2:
            if reward is not None:
                scores = reward.score([prompt] * len(candidates), candidates).tolist()
                ranked = ranking.best_and_worst(scores)
                if ranked is not None:
                    gap = scores[ranked.best] - scores[ranked.worst]
                    pair = {"kind": REWARD_GAP_KIND, "margin": gap, "evidence": {}}
            else:
                scores, details = _judge_scores(job, prompt, candidates)
                ranked = ranking.best_and_worst(scores)
                if ranked is not None:
                    verdict = _best_vs_worst(details, ranked)
                    pair = {
                        "kind": JUDGE_MARGIN_KIND,
                        "margin": 2 * verdict.preference_a - 1,
                        "evidence": {"best_vs_worst": verdict.verdict,
                                     "position_biased": verdict.position_biased},
                    }  # fmt: skip
            if pair is not None and ranked is not None:
                pair.update(
                    best=candidates[ranked.best],
                    worst=candidates[ranked.worst],
                    scores=[round(s, 4) for s in scores],
                    candidates=candidates,
                )
        pairs.append((pk, prompt, pair))
    _store(job, pairs)


def _store(job: Job, pairs: list[tuple[int, str, dict[str, Any] | None]]) -> None:
    project = job.project
    task = task_types.get(project.task_type)
    params = job.params
    created: list[tuple[int, str, dict[str, Any]]] = []
    with transaction.atomic():
        for prompt_id, prompt, pair in pairs:
            if pair is None:
                # Fewer than two different answers, or the ranker could not tell them apart:
                # no pair. The edge to itself marks the prompt as done.
                LineageEdge.objects.get_or_create(
                    parent_id=prompt_id, child_id=prompt_id, operation=f"{OPERATION}-failed",
                    job=job,
                )  # fmt: skip
                continue
            position = ranking.best_position(int(params["seed"]), prompt_id)
            best, worst = pair["best"], pair["worst"]
            a, b = (best, worst) if position == "a" else (worst, best)
            payload = {"prompt": prompt, "response_a": a, "response_b": b}
            record, is_new = Record.objects.get_or_create(
                project=project,
                content_hash=content_hash(payload),
                defaults={
                    "payload": payload,
                    "origin": Origin.SYNTHETIC,
                    "split": Split.POOL,
                    "created_by_job": job,
                    "review": ReviewState.PENDING,
                    "source": {
                        "generator": OPERATION, "seed": prompt_id, "ranked_by": params["ranked_by"],
                        "ranker": params["ranker_identity"], "llm": params["llm"],
                        "llm_version": params.get("llm_version"), "n": int(params["n"]),
                        "temperature": float(params["temperature"]),
                        "max_new_tokens": int(params["max_new_tokens"]),
                        "sampling_seed": int(params["seed"]), "candidates": pair["candidates"],
                        "scores": pair["scores"], "best": position, pair["kind"]: pair["margin"],
                        **pair["evidence"],
                    },
                },
            )  # fmt: skip
            LineageEdge.objects.get_or_create(
                parent_id=prompt_id, child=record, operation=OPERATION, job=job
            )
            if is_new:
                intended = task.clean(
                    project.labels,
                    payload,
                    {"choice": position,
                     "reason": f"self-reward: best of {len(pair['candidates'])} by the "
                               f"{params['ranked_by']}"},
                )  # fmt: skip
                Annotation.objects.create(
                    record=record, project=project, value=intended, source=Source.LLM, job=job
                )
                created.append((record.pk, pair["best"], pair))
    if created:
        _score(job, created)


def _score(job: Job, created: list[tuple[int, str, dict[str, Any]]]) -> None:
    """The ranker's margin (what bulk approval can threshold on) and the toxicity of the answer
    the pair would teach."""
    for kind in (JUDGE_MARGIN_KIND, REWARD_GAP_KIND):
        rows = [(pk, pair["margin"]) for pk, _, pair in created if pair["kind"] == kind]
        if rows:
            scores_store(round_=None, kind=kind, model_identity=job.params["ranker_identity"],
                         job=job, record_ids=[pk for pk, _ in rows],
                         values=[margin for _, margin in rows])  # fmt: skip
    scorer = get_toxicity_scorer(job.project.settings_obj.toxicity_model)
    scores_store(round_=None, kind=TOXICITY_KIND, model_identity=scorer.identity, job=job,
                 record_ids=[pk for pk, _, _ in created],
                 values=scorer.score([best for _, best, _ in created]).tolist())  # fmt: skip


def finalize(job: Job) -> dict[str, Any]:
    """The batch's statistics, and how many prompts gave a pair and how far apart."""
    prompts = LineageEdge.objects.filter(job=job)
    margins = np.array(
        Score.objects.filter(job=job, kind__in=[JUDGE_MARGIN_KIND, REWARD_GAP_KIND]).values_list(
            "value", flat=True
        ),
        dtype=float,
    )
    return {
        **asdict(batch_stats(job)),
        "prompts": prompts.count(),
        "no_pair": prompts.filter(operation=f"{OPERATION}-failed").count(),
        "ranked_by": job.params.get("ranked_by"),
        "mean_margin": float(margins.mean()) if margins.size else None,
    }


# The runner named by curator/job_kinds/self_reward.py.
RUNNER = FannedOut(plan=plan, process=process, finalize=finalize, chunk_size=4)
