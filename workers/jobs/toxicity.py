"""Toxicity scoring of a project's records; records above the threshold are held from training."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Exists, OuterRef

from annotation import task_types
from curator.models import Job, Record, Score
from workers.inference.toxicity import get_toxicity_scorer
from workers.jobs.fanout import FannedOut
from workers.jobs.scores import scores_store

KIND = "toxicity"


def threshold(job: Job) -> float:
    return float(job.params.get("threshold", job.project.settings_obj.toxicity_threshold))


def plan(job: Job) -> list[int]:
    scorer = get_toxicity_scorer(job.project.settings_obj.toxicity_model)
    params = {**job.params, "model": scorer.identity, "threshold": threshold(job)}
    Job.objects.filter(pk=job.pk).update(
        params=params, model_identity={"toxicity": scorer.identity}
    )
    job.params = params
    scored = Score.objects.filter(record=OuterRef("pk"), kind=KIND, model_identity=scorer.identity)
    records = Record.objects.filter(project=job.project)
    if job.params.get("record_ids"):
        records = records.filter(pk__in=job.params["record_ids"])
    if not job.params.get("rescore"):
        records = records.exclude(Exists(scored))
    return list(records.order_by("id").values_list("id", flat=True))


def process(job: Job, record_ids: list[int]) -> None:
    scorer = get_toxicity_scorer(job.project.settings_obj.toxicity_model)
    field = job.project.settings_obj.text_field
    task = task_types.get(job.project.task_type)
    records = list(Record.objects.filter(pk__in=record_ids).order_by("id"))
    # Every field a person reads: a pair's prompt and both responses, not only a text field.
    values = scorer.score([task.content_text(r.payload, field) for r in records])
    scores_store(
        round_=None, kind=KIND, model_identity=scorer.identity, job=job,
        record_ids=[r.pk for r in records], values=values.tolist(),
    )  # fmt: skip
    limit = float(job.params["threshold"])
    flagged = [r.pk for r, v in zip(records, values, strict=True) if v >= limit]
    # A record a curator already cleared stays cleared: people overrule the model.
    for record, value in zip(records, values, strict=True):
        if record.pk in flagged:
            Record.objects.filter(pk=record.pk, hold_cleared_by__isnull=True).update(
                held=True, held_reason=f"toxicity {value:.2f} >= {limit:.2f} ({scorer.identity})"
            )


def finalize(job: Job) -> dict[str, Any]:
    values = np.array(
        Score.objects.filter(job=job, kind=KIND).values_list("value", flat=True), dtype=float
    )
    limit = float(job.params["threshold"])
    return {
        "scored": int(values.size),
        "flagged": int((values >= limit).sum()) if values.size else 0,
        "threshold": limit,
        "mean_toxicity": float(values.mean()) if values.size else None,
        "held_in_project": Record.objects.filter(project=job.project, held=True).count(),
    }


# The runner named by curator/job_kinds/toxicity.py.
RUNNER = FannedOut(plan=plan, process=process, finalize=finalize, chunk_size=2000)
