"""Reads for curators: what would train now, a generated batch's figures, how the label-noise
flags fared. Each returns a frozen dataclass; the API serialises it field for field and the
pages read the same attributes. No writes here."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotation import task_types
from annotation.labels import training_labels
from annotation.models import Annotation, Source
from curator.models import Job, NoiseFlag, Project, Record, ReviewState, Score
from curator.models.records import (
    AGREEMENT_KIND,
    NEAR_DUP_KIND,
    QUALITY_KIND,
    TOXICITY_KIND,
    payload_text,
)

NEAR_DUP_FLAG = 0.8  # estimated Jaccard from which a generated item counts as a duplicate
IMBALANCE_RATIO = 3  # largest / smallest label count from which a training set is imbalanced
LENGTH_BIN_EDGES = [0, 5, 10, 20, 40, 80, 160, 10**6]  # words


@dataclass(frozen=True)
class BatchStats:
    items: int
    pending: int
    approved: int
    rejected: int
    quality_histogram: list[int]  # quality 1-2, 2-3, 3-4, 4-5
    mean_quality: float | None
    toxic: int
    duplicate_rate: float | None
    labels: dict[str, int]  # intended label -> items
    model_agreement: float | None


def batch_stats(job: Job) -> BatchStats:
    """What a curator weighs before reviewing a batch: counts, quality histogram, toxicity,
    duplicates, labels, and agreement of the current model with the intended labels."""
    records = Record.objects.filter(created_by_job=job)
    states = Counter(records.values_list("review", flat=True))
    scores: dict[str, list[float]] = {}
    for kind, value in Score.objects.filter(record__in=records).values_list("kind", "value"):
        scores.setdefault(kind, []).append(value)
    quality = np.array(scores.get(QUALITY_KIND, []))
    toxicity = np.array(scores.get(TOXICITY_KIND, []))
    near = np.array(scores.get(NEAR_DUP_KIND, []))
    agreement = scores.get(AGREEMENT_KIND, [])
    limit = job.project.settings_obj.toxicity_threshold
    task = task_types.get(job.project.task_type)
    # A pair's intended label counts by its choice, not its reason; a generated response is no
    # category to count.
    labels = Counter(
        task.vote_key(v)
        for v in Annotation.objects.filter(job=job, source=Source.LLM).values_list(
            "value", flat=True
        )
        if task.record_votes_are_categories
    )
    return BatchStats(
        items=int(records.count()),
        pending=states.get(ReviewState.PENDING, 0),
        approved=states.get(ReviewState.APPROVED, 0),
        rejected=states.get(ReviewState.REJECTED, 0),
        quality_histogram=np.histogram(quality, bins=4, range=(1, 5))[0].tolist(),
        mean_quality=float(quality.mean()) if quality.size else None,
        toxic=int((toxicity >= limit).sum()),
        duplicate_rate=float((near >= NEAR_DUP_FLAG).mean()) if near.size else None,
        labels=dict(labels),
        model_agreement=float(np.mean(agreement)) if agreement else None,
    )


@dataclass(frozen=True)
class NoiseReport:
    flags: int
    open: int  # no label from a person since the flag
    confirmed: int  # the new label differs from the flagged one
    rejected: int  # people gave the flagged label again
    precision: float | None  # confirmed / (confirmed + rejected)


def noise_report(project: Project) -> NoiseReport:
    """Flags by outcome, from people's labels after the flag: "confirmed" when the new label
    differs from the flagged one, "rejected" when people gave it again; precision of the flags
    is confirmed / (confirmed + rejected)."""
    flags = list(
        NoiseFlag.objects.filter(job__project=project).values_list(
            "record_id", "given_label", "created_at"
        )
    )
    latest: dict[int, tuple[Any, Any]] = {}
    for record_id, value, created in (
        Annotation.objects.filter(
            record_id__in=[f[0] for f in flags], source__in=[Source.HUMAN, Source.REVIEW]
        )
        .order_by("id")
        .values_list("record_id", "value", "created_at")
    ):
        latest[record_id] = (value, created)
    outcomes: Counter[str] = Counter()
    for record_id, given, flagged_at in flags:
        relabel = latest.get(record_id)
        if relabel is None or relabel[1] <= flagged_at:
            outcomes["open"] += 1
        elif task_types.vote_key(project.task_type, relabel[0]) != given:
            outcomes["confirmed"] += 1
        else:
            outcomes["rejected"] += 1
    resolved = outcomes["confirmed"] + outcomes["rejected"]
    return NoiseReport(
        flags=len(flags),
        open=outcomes["open"],
        confirmed=outcomes["confirmed"],
        rejected=outcomes["rejected"],
        precision=outcomes["confirmed"] / resolved if resolved else None,
    )


@dataclass(frozen=True)
class LengthBin:
    start: int  # words, inclusive ("from" in the API)
    end: int  # words, exclusive ("to" in the API)
    records: int


@dataclass(frozen=True)
class Distribution:
    labeled: int
    labels: dict[str, int]  # label -> training records
    imbalance_ratio: float | None  # largest / smallest label count
    imbalanced: bool
    minority_labels: list[str]
    length_histogram: list[LengthBin]
    label_sources: dict[str, int]  # annotation source -> training labels
    origins: dict[str, int]  # record origin -> training records


def distribution(project: Project) -> Distribution:
    """Labels, lengths and sources of what would train now, with an imbalance warning."""
    labels = training_labels(project)
    counts = Counter(label for _, label in labels.values())
    field = project.settings_obj.text_field
    lengths = []
    origins: Counter = Counter()
    sources = Counter(
        Annotation.objects.filter(pk__in=[a for a, _ in labels.values()]).values_list(
            "source", flat=True
        )
    )
    for payload, origin in Record.objects.filter(pk__in=list(labels)).values_list(
        "payload", "origin"
    ):
        lengths.append(len(payload_text(payload, field).split()))
        origins[origin] += 1
    label_counts = {value: counts.get(value, 0) for value in project.label_values} or dict(counts)
    present = list(label_counts.values())
    ratio = (max(present) / max(min(present), 1)) if present else None
    minority = [v for v, n in label_counts.items() if present and n == min(present)]
    length_histogram: list[LengthBin] = []
    if lengths:
        histogram, edges = np.histogram(lengths, bins=LENGTH_BIN_EDGES)
        length_histogram = [
            LengthBin(start=int(edges[i]), end=int(edges[i + 1]), records=int(n))
            for i, n in enumerate(histogram)
        ]
    return Distribution(
        labeled=len(labels),
        labels=label_counts,
        imbalance_ratio=ratio,
        imbalanced=bool(ratio and ratio >= IMBALANCE_RATIO),
        minority_labels=minority,
        length_histogram=length_histogram,
        label_sources=dict(sources),
        origins=dict(origins),
    )
