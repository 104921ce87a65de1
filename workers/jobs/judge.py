"""Pairwise LLM judging of records that hold a prompt and two responses, in both orders."""

from __future__ import annotations

from typing import Any

import numpy as np

from annotation import task_types
from annotation.labels import training_labels
from annotation.models import Annotation, Source
from curator.algorithms import calibration, judging
from curator.models import Job, Record, Score
from workers.inference.llm import LLM, get_llm
from workers.jobs.fanout import FannedOut
from workers.jobs.project_llm import job_llm
from workers.jobs.scores import scores_store

RATING_KIND = "judge_rating"
KIND = "judge_preference_a"
BIAS_KIND = "judge_position_biased"  # 1.0 when the same position won in both orders (a tie)
FIELDS = {
    "prompt_field": "prompt",
    "a_field": "response_a",
    "b_field": "response_b",
    "response_field": "response",
    "human_field": "human_preference",
}


def _fields(job: Job) -> dict[str, str]:
    return {key: job.params.get(key, default) for key, default in FIELDS.items()}


def _judges(job: Job) -> list[str | None]:
    return job.params.get("judges") or [None]  # None: the project's LLM (promoted version)


def _judge_llm(job: Job, spec: str | None) -> LLM:
    return job_llm(job) if spec is None else get_llm(spec)


def plan(job: Job) -> list[int]:
    identities = [_judge_llm(job, spec).identity for spec in _judges(job)]
    params = {**job.params, **_fields(job), "judge_identities": identities}
    Job.objects.filter(pk=job.pk).update(params=params, model_identity={"judges": identities})
    job.params = params
    fields = _fields(job)
    records = Record.objects.filter(project=job.project)
    if job.params.get("record_ids"):  # a curator's choice in the data manager
        records = records.filter(pk__in=job.params["record_ids"])
    if _pointwise(job):
        records = records.filter(payload__has_key=fields["response_field"])
    else:
        records = records.filter(payload__has_key=fields["a_field"]).filter(
            payload__has_key=fields["b_field"]
        )
    return list(records.order_by("id").values_list("id", flat=True))


def _pointwise(job: Job) -> bool:
    return job.params.get("mode", "pairwise") == "pointwise"


def rate(job: Job, payloads: list[dict]) -> np.ndarray:
    """Expected 1..scale rating of each response, averaged over the judges."""
    fields = _fields(job)
    top = int(job.params.get("scale", 5))
    messages = [
        judging.rating_messages(
            p.get(fields["prompt_field"], ""),
            p[fields["response_field"]],
            job.params.get("rubric", ""),
            top,
        )
        for p in payloads
    ]
    ratings = np.zeros(len(payloads))
    for spec in _judges(job):
        llm = _judge_llm(job, spec)
        scores = llm.option_logprobs(messages, [str(i) for i in range(1, top + 1)])
        ratings += judging.expected_rating(scores) / len(_judges(job))
    return ratings


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
        llm = _judge_llm(job, spec)
        scores = llm.option_logprobs(ab + ba, ["A", "B"])
        probabilities = calibration.softmax(scores)[:, 0]
        first_ab += probabilities[: len(payloads)] / len(judges)
        first_ba += probabilities[len(payloads) :] / len(judges)
    return judging.verdicts(first_ab, first_ba)


def process(job: Job, record_ids: list[int]) -> None:
    records = list(Record.objects.filter(pk__in=record_ids).order_by("id"))
    if _pointwise(job):
        scores_store(
            round_=None,
            kind=RATING_KIND,
            model_identity="+".join(job.params["judge_identities"]) + "|rating-v1",
            job=job,
            record_ids=[r.pk for r in records],
            values=rate(job, [r.payload for r in records]).tolist(),
        )
        return
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
    task = task_types.get(job.project.task_type)
    if task.judge_labels:
        # In a preference project the verdict is also the suggestion annotators see, and a
        # label people's choices can be compared with.
        Annotation.objects.bulk_create(
            [
                Annotation(
                    record=record,
                    project=job.project,
                    value=task.clean(
                        job.project.labels, record.payload, {"choice": result.verdict}
                    ),
                    source=Source.LLM,
                    job=job,
                    confidence=0.5
                    if result.verdict == "tie"
                    else max(result.preference_a, 1 - result.preference_a),
                )
                for record, result in zip(records, results, strict=True)
            ],
            ignore_conflicts=True,  # a re-run chunk stores nothing twice
        )


def finalize(job: Job) -> dict[str, Any]:
    fields = _fields(job)
    if _pointwise(job):
        ratings = np.array(
            Score.objects.filter(job=job, kind=RATING_KIND).values_list("value", flat=True),
            dtype=float,
        )
        return {
            "rated": int(ratings.size),
            "mean_rating": float(ratings.mean()) if ratings.size else None,
            "histogram": np.histogram(ratings, bins=4, range=(1, 5))[0].tolist(),
        }
    biased = dict(Score.objects.filter(job=job, kind=BIAS_KIND).values_list("record", "value"))
    # People's choices where the project collects them, else a preference field in the payload.
    people = (
        {record: choice for record, (_, choice) in training_labels(job.project).items()}
        if task_types.get(job.project.task_type).judge_labels
        else {}
    )
    results, human = [], []
    for record_id, value, payload in Score.objects.filter(job=job, kind=KIND).values_list(
        "record", "value", "record__payload"
    ):
        was_biased = bool(biased.get(record_id))
        verdict = "tie" if was_biased else ("a" if value > 0.5 else "b")
        results.append(judging.PairVerdict(value, verdict, was_biased))
        human.append(people.get(record_id) or str(payload.get(fields["human_field"], "")).lower())
    verdict_counts = {v: sum(r.verdict == v for r in results) for v in ("a", "b", "tie")}
    return {
        "pairs": len(results),
        "verdicts": verdict_counts,
        "position_bias_rate": judging.position_bias_rate(results),
        **judging.agreement(results, human),
    }


# The runner named by curator/job_kinds/judge.py.
RUNNER = FannedOut(plan=plan, process=process, finalize=finalize, chunk_size=16)
