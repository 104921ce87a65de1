"""Toxicity scoring of a project's records; records above the threshold are held from training.

The base scorer (project setting `toxicity_model`: the bundled n-gram classifier by default, any
Hugging Face sequence classifier for GPU deployments, or the LLM zero-shot) scores every text.
Once people have made enough toxicity decisions (curators' holds and clears, annotators'
"offensive" skips: `selectors.toxicity_decisions`), plan fits a head on those records'
embeddings and base scores (curator/algorithms/toxicity.py) and the head gives the score. Its
identity is part of the scores' model identity, so new decisions mean a rescore.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Exists, OuterRef

from annotation import task_types
from curator.algorithms import toxicity
from curator.models import Job, Project, Record, Score
from curator.selectors import toxicity_decisions
from workers.inference.encoder import get_encoder
from workers.inference.toxicity import ToxicityScorer, get_toxicity_scorer
from workers.jobs.embeddings import records_embedded
from workers.jobs.fanout import FannedOut
from workers.jobs.scores import scores_store

KIND = "toxicity"


def threshold(job: Job) -> float:
    return float(job.params.get("threshold", job.project.settings_obj.toxicity_threshold))


def base_scores(scorer: ToxicityScorer, project: Project, records: list[Record]) -> np.ndarray:
    """The base scorer on every field a person reads: a pair's prompt and both responses, not
    only a text field."""
    field = project.settings_obj.text_field
    task = task_types.get(project.task_type)
    return scorer.score([task.content_text(r.payload, field) for r in records])


def head_learn(project: Project, scorer: ToxicityScorer) -> toxicity.ToxicityHead | None:
    """The head fitted on people's toxicity decisions; None while they are too few."""
    decisions = toxicity_decisions(project)
    if len(decisions) < toxicity.MIN_DECISIONS:
        return None
    records = list(Record.objects.filter(pk__in=decisions).order_by("id"))
    encoder = get_encoder(project.setting("encoder_model"))
    embeddings = records_embedded([r.pk for r in records], project.setting("text_field"), encoder)
    return toxicity.fit_head(
        embeddings,
        base_scores(scorer, project, records),
        [decisions[r.pk] for r in records],
    )


def plan(job: Job) -> list[int]:
    project = job.project
    scorer = get_toxicity_scorer(project.settings_obj.toxicity_model)
    head = head_learn(project, scorer)
    identity = f"{scorer.identity}+{head.identity}" if head else scorer.identity
    params = {
        **job.params,
        "model": identity,
        "base_model": scorer.identity,
        "head": head.as_dict() if head else None,
        "threshold": threshold(job),
    }
    Job.objects.filter(pk=job.pk).update(params=params, model_identity={"toxicity": identity})
    job.params = params
    scored = Score.objects.filter(record=OuterRef("pk"), kind=KIND, model_identity=identity)
    records = Record.objects.filter(project=job.project)
    if job.params.get("record_ids"):
        records = records.filter(pk__in=job.params["record_ids"])
    if not job.params.get("rescore"):
        records = records.exclude(Exists(scored))
    return list(records.order_by("id").values_list("id", flat=True))


def process(job: Job, record_ids: list[int]) -> None:
    project = job.project
    scorer = get_toxicity_scorer(project.settings_obj.toxicity_model)
    records = list(Record.objects.filter(pk__in=record_ids).order_by("id"))
    values = base_scores(scorer, project, records)
    if job.params.get("head"):
        encoder = get_encoder(project.setting("encoder_model"))
        embeddings = records_embedded(
            [r.pk for r in records], project.setting("text_field"), encoder
        )
        head = toxicity.ToxicityHead.from_dict(job.params["head"])
        values = toxicity.head_scores(head, embeddings, values)
    identity = str(job.params["model"])
    scores_store(
        round_=None, kind=KIND, model_identity=identity, job=job,
        record_ids=[r.pk for r in records], values=values.tolist(),
    )  # fmt: skip
    limit = float(job.params["threshold"])
    flagged = [r.pk for r, v in zip(records, values, strict=True) if v >= limit]
    # A record a curator already cleared stays cleared: people overrule the model.
    for record, value in zip(records, values, strict=True):
        if record.pk in flagged:
            Record.objects.filter(pk=record.pk, hold_cleared_by__isnull=True).update(
                held=True, held_reason=f"toxicity {value:.2f} >= {limit:.2f} ({identity})"[:200]
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
        # People's decisions the head learned from (0: the base scorer alone).
        "decisions": (job.params.get("head") or {}).get("decisions", 0),
    }


# The runner named by curator/job_kinds/toxicity.py.
RUNNER = FannedOut(plan=plan, process=process, finalize=finalize, chunk_size=2000)
