"""Quality filters and deduplication as one job over a project's records.

The filters run in a fixed order, cheapest first, each over the records the previous ones kept;
a dropped record gets one FilterDecision (the first filter that dropped it, why, and the
evidence) and `filtered_by` = this job, which keeps it out of training and the queue until the
run is reverted. Gold records are never filtered (they are the yardstick).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from django.db import transaction

from curator.algorithms import curation
from curator.algorithms.curation import DEFAULT_FILTERS, ORDER
from curator.models import FilterDecision, Job, Record, ReviewState, Score, Split
from curator.models.records import QUALITY_KIND, payload_text
from workers.inference.encoder import get_encoder
from workers.inference.llm import scoring_llm
from workers.jobs.embeddings import embeddings_ensure, embeddings_matrix
from workers.jobs.project_llm import job_llm
from workers.runtime import job_progress


def filter_run(job: Job) -> dict[str, Any]:
    project = job.project
    config = job.params.get("filters") or DEFAULT_FILTERS
    field = project.settings_obj.text_field
    rows = list(
        Record.objects.filter(
            project=project, split__in=[Split.POOL, Split.TRAIN], filtered_by__isnull=True
        )
        .exclude(review=ReviewState.REJECTED)
        .order_by("id")
        .values_list("id", "content_hash", "payload")
    )
    ids = [pk for pk, _, _ in rows]
    texts = [_text(payload, field) for _, _, payload in rows]
    alive = list(range(len(rows)))
    dropped: dict[int, tuple[str, curation.Drop]] = {}
    removed: dict[str, int] = {}
    for name in (n for n in ORDER if n in config):
        job_progress(job, done=len(rows) - len(alive), total=len(rows), stage=name)
        subset_ids = [ids[i] for i in alive]
        subset_texts = [texts[i] for i in alive]
        drops = _apply(name, config[name], job, rows, alive, subset_ids, subset_texts)
        for drop in drops:
            dropped[alive[drop.index]] = (name, drop)
        removed[name] = len(drops)
        gone = {drop.index for drop in drops}
        alive = [index for position, index in enumerate(alive) if position not in gone]
    with transaction.atomic():
        FilterDecision.objects.bulk_create(
            [
                FilterDecision(
                    job=job, record_id=ids[index], filter=name, reason=drop.reason[:300],
                    evidence=drop.evidence,
                )
                for index, (name, drop) in dropped.items()
            ],
            ignore_conflicts=True,
            batch_size=2000,
        )  # fmt: skip
        dropped_ids = [ids[index] for index in dropped]
        for start in range(0, len(dropped_ids), 5000):
            Record.objects.filter(pk__in=dropped_ids[start : start + 5000]).update(filtered_by=job)
    return {"examined": len(rows), "kept": len(alive), "removed": removed, "filters": config}


def _text(payload: Any, field: str) -> str:
    text = payload_text(payload, field)
    if text:
        return text
    # Instruction data: the instruction and its response together.
    return "\n".join(
        payload_text(payload, key) for key in ("prompt", "draft", "response") if payload.get(key)
    )


def _apply(
    name: str,
    options: dict[str, Any],
    job: Job,
    rows: list,
    alive: list[int],
    ids: list[int],
    texts: list[str],
) -> list[curation.Drop]:
    project = job.project
    if name == "exact":
        return curation.exact_duplicates(texts, ids)
    if name == "length":
        return curation.length_bounds(
            texts, options.get("min_words"), options.get("max_words"),
            options.get("min_unique_words"),
        )  # fmt: skip
    if name == "near_duplicate":
        return curation.near_duplicates(
            texts, ids, float(options.get("threshold", 0.8)), int(options.get("num_perm", 128))
        )
    if name == "semantic":
        encoder = get_encoder(project.settings_obj.encoder_model)
        hashes = [rows[i][1] for i in alive]
        embeddings_ensure(list(zip(hashes, texts, strict=True)), encoder)
        vectors = embeddings_matrix(hashes, encoder.identity)
        return curation.semantic_duplicates(vectors, ids, float(options.get("threshold", 0.95)))
    if name == "perplexity":
        llm = scoring_llm(job_llm(job))
        nll = llm.response_nll(None, texts)
        return curation.above(np.exp(nll).tolist(), float(options["max"]), "perplexity")
    if name == "ifd":
        return _ifd(job, options, rows, alive)
    if name == "judge":
        kind = options.get("kind", QUALITY_KIND)
        scores = dict(
            Score.objects.filter(record_id__in=ids, kind=kind).values_list("record_id", "value")
        )
        return curation.below([scores.get(pk) for pk in ids], float(options["min"]), kind)
    raise ValueError(f"unknown filter {name!r}")


def _ifd(job: Job, options: dict[str, Any], rows: list, alive: list[int]) -> list[curation.Drop]:
    """Instruction-following difficulty (Li et al. 2024): perplexity of the response given the
    instruction over its perplexity alone. Near or above 1 the instruction does not help
    predict the response: a poorly matched pair. Records without both fields are kept."""
    prompt_field = options.get("prompt_field", "prompt")
    response_field = options.get("response_field", "draft")
    pairs = [
        (position, payload.get(prompt_field), payload.get(response_field))
        for position, (_, _, payload) in enumerate(rows[i] for i in alive)
    ]
    usable = [(p, q, r) for p, q, r in pairs if isinstance(q, str) and isinstance(r, str) and r]
    if not usable:
        return []
    llm = scoring_llm(job_llm(job))
    conditional = llm.response_nll([[{"role": "user", "content": q}] for _, q, _ in usable],
                                   [r for _, _, r in usable])  # fmt: skip
    plain = llm.response_nll(None, [r for _, _, r in usable])
    ifd = [math.exp(c - p) for c, p in zip(conditional, plain, strict=True)]
    bound = float(options.get("max", 1.0))
    return [
        curation.Drop(position, f"IFD {value:.3g} > {bound}", {"ifd": round(value, 4)})
        for (position, _, _), value in zip(usable, ifd, strict=True)
        if value > bound
    ]
