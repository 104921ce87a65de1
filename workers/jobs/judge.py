"""Pairwise LLM judging of records that hold a prompt and two responses, in both orders."""

from __future__ import annotations

from typing import Any

import numpy as np

from curator.models import Job, Record, Score
from workers import calibration, judging
from workers.inference.llm import get_llm
from workers.jobs.fanout import FannedOutKind, register
from workers.jobs.scores import scores_store

KIND = "judge_preference_a"
BIAS_KIND = "judge_position_biased"  # 1.0 when the same position won in both orders (a tie)
FIELDS = {"prompt_field": "prompt", "a_field": "response_a", "b_field": "response_b",
          "human_field": "human_preference"}  # fmt: skip


def _fields(job: Job) -> dict[str, str]:
    return {key: job.params.get(key, default) for key, default in FIELDS.items()}


def _judges(job: Job) -> list[str | None]:
    return job.params.get("judges") or [None]  # None: the configured default LLM


def plan(job: Job) -> list[int]:
    identities = [get_llm(spec).identity for spec in _judges(job)]
    params = {**job.params, **_fields(job), "judge_identities": identities}
    Job.objects.filter(pk=job.pk).update(params=params, model_identity={"judges": identities})
    job.params = params
    fields = _fields(job)
    return list(
        Record.objects.filter(
            project=job.project,
            **{"payload__has_key": fields["a_field"]},
        )
        .filter(payload__has_key=fields["b_field"])
        .order_by("id")
        .values_list("id", flat=True)
    )


def judge_pairs(job: Job, payloads: list[dict]) -> list[judging.PairVerdict]:
    fields = _fields(job)
    rubric = job.params.get("rubric", "")
    ab = [judging.pairwise_messages(p.get(fields["prompt_field"], ""), p[fields["a_field"]],
                                    p[fields["b_field"]], rubric) for p in payloads]  # fmt: skip
    ba = [judging.pairwise_messages(p.get(fields["prompt_field"], ""), p[fields["b_field"]],
                                    p[fields["a_field"]], rubric) for p in payloads]  # fmt: skip
    first_ab, first_ba = np.zeros(len(payloads)), np.zeros(len(payloads))
    judges = _judges(job)
    for spec in judges:  # several judges: their probabilities are averaged
        llm = get_llm(spec)
        scores = llm.option_logprobs(ab + ba, ["A", "B"])
        probabilities = calibration.softmax(scores)[:, 0]
        first_ab += probabilities[: len(payloads)] / len(judges)
        first_ba += probabilities[len(payloads) :] / len(judges)
    return judging.verdicts(first_ab, first_ba)


def process(job: Job, record_ids: list[int]) -> None:
    records = list(Record.objects.filter(pk__in=record_ids).order_by("id"))
    results = judge_pairs(job, [r.payload for r in records])
    identity = "+".join(job.params["judge_identities"]) + "|pairwise-both-orders-v1"
    scores_store(
        round_=None, kind=KIND, model_identity=identity, job=job,
        record_ids=[r.pk for r in records], values=[r.preference_a for r in results],
    )  # fmt: skip
    scores_store(
        round_=None, kind=BIAS_KIND, model_identity=identity, job=job,
        record_ids=[r.pk for r in records], values=[float(r.position_biased) for r in results],
    )  # fmt: skip


def finalize(job: Job) -> dict[str, Any]:
    fields = _fields(job)
    biased = dict(Score.objects.filter(job=job, kind=BIAS_KIND).values_list("record", "value"))
    results, human = [], []
    for record_id, value, payload in Score.objects.filter(job=job, kind=KIND).values_list(
        "record", "value", "record__payload"
    ):
        was_biased = bool(biased.get(record_id))
        verdict = "tie" if was_biased else ("a" if value > 0.5 else "b")
        results.append(judging.PairVerdict(value, verdict, was_biased))
        human.append(str(payload.get(fields["human_field"], "")).lower())
    verdict_counts = {v: sum(r.verdict == v for r in results) for v in ("a", "b", "tie")}
    return {
        "pairs": len(results),
        "verdicts": verdict_counts,
        "position_bias_rate": judging.position_bias_rate(results),
        **judging.agreement(results, human),
    }


register(Job.Kind.JUDGE, FannedOutKind(plan=plan, process=process, finalize=finalize,
                                       chunk_size=16))  # fmt: skip
