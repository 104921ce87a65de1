"""The round classifier's predictions offered to annotators, where it is the better source.

A classifier round measures its model on gold; routing measures the LLM on spot checks. When
the classifier measures better (`curator.algorithms.suggestion_source`), its prediction for every
pool record is stored as a model label (`Source.MODEL`), which the labeling card offers before the
LLM's (`annotation.services.annotations.suggestion_with_reason`). Model labels never train, count
or export: they are suggestions only. Each round replaces the previous round's suggestions on
records nobody has labeled yet; on labeled records they stay, as what the annotator was shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef

from annotation import task_types
from annotation.models import Annotation, Source
from curator.algorithms.suggestion_source import suggestion_source
from curator.models import Job, Project, Round

BATCH = 5000
LABELED_BY = (Source.HUMAN, Source.REVIEW, Source.IMPORT)


def stage_suggest(
    job: Job,
    round_: Round,
    *,
    pool_ids: Sequence[int],
    probabilities: np.ndarray,
    classes: Sequence[str],
    evaluation: dict[str, Any],
    feedback: dict[str, Any],
) -> dict[str, Any]:
    """Store the classifier's predictions as suggestions if it is the better source; return
    what was decided and why (the round's metrics keep it)."""
    choice = suggestion_source(
        evaluation.get("accuracy"),
        int(evaluation.get("gold_size") or 0),
        feedback.get("spot_check_accuracy"),
        int(feedback.get("spot_checked") or 0),
    )
    project = round_.project
    labeled = Annotation.objects.filter(record=OuterRef("record"), source__in=LABELED_BY)
    with transaction.atomic():
        replaced, _ = (
            Annotation.objects.filter(project=project, source=Source.MODEL)
            .exclude(job=job)
            .exclude(Exists(labeled))
            .delete()
        )
        stored = _store(job, round_, pool_ids, probabilities, classes) if choice.classifier else 0
    return {"offered": choice.classifier, "why": choice.why, "stored": stored,
            "replaced": replaced}  # fmt: skip


def _store(
    job: Job,
    round_: Round,
    pool_ids: Sequence[int],
    probabilities: np.ndarray,
    classes: Sequence[str],
) -> int:
    if not pool_ids:
        return 0  # every record trained: nothing waits for a suggestion
    project = round_.project
    values = _values(project, classes)
    best = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    stored = 0
    for start in range(0, len(pool_ids), BATCH):
        # ignore_conflicts + the (record, job) unique key: a round run twice stores one label.
        Annotation.objects.bulk_create(
            [
                Annotation(
                    record_id=record_id,
                    project=project,
                    value=values[int(best[i])],
                    source=Source.MODEL,
                    job=job,
                    round=round_,
                    confidence=float(confidence[i]),
                )
                for i, record_id in enumerate(pool_ids[start : start + BATCH], start=start)
                if values[int(best[i])] is not None
            ],
            ignore_conflicts=True,
        )
        stored += sum(values[int(b)] is not None for b in best[start : start + BATCH])
    return stored


def _values(project: Project, classes: Sequence[str]) -> list[Any | None]:
    """Each class's stored value in the task's own shape (the classes are vote keys: "4" on a
    rating scale is the number 4); None for a label the project has removed since its records
    were labeled (those labels still train, but are no longer offered)."""
    task = task_types.get(project.task_type)
    values: list[Any | None] = []
    for key in classes:
        try:
            values.append(task.clean(project.labels, None, key))
        except ValidationError:
            values.append(None)
    return values
