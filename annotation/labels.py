"""Label reads: which label each record carries for training, and the truth of each gold record.

Every screen, job and round that asks "what is this record's label" reads it here, so consensus,
routing and review rules are applied the same way everywhere.
"""

from __future__ import annotations

from django.db.models import QuerySet

from annotation import task_types
from annotation.consensus import LabelVote, consensus_labels
from annotation.models import Annotation, Source
from curator.models import Project, ReviewState, RoutingDecision, Split

TRAINING_SOURCES = (Source.HUMAN, Source.REVIEW, Source.IMPORT)
GOLD_SOURCES = (Source.IMPORT, Source.REVIEW)
TRAINABLE_REVIEW = ("", ReviewState.APPROVED)


def label_votes(
    annotations: QuerySet[Annotation], task_type: str = task_types.CLASSIFICATION
) -> list[LabelVote]:
    return [
        LabelVote(
            record_id=record_id,
            annotation_id=annotation_id,
            author_key=f"user:{author_id}" if author_id else f"{source}:{job_id}",
            source=source,
            label=task_types.vote_key(task_type, value),
        )
        for record_id, annotation_id, author_id, job_id, source, value in annotations.values_list(
            "record_id", "id", "author_id", "job_id", "source", "value"
        ).iterator(chunk_size=5000)
    ]


def training_labels(project: Project) -> dict[int, tuple[int, str]]:
    """record id -> (annotation id, label) for every record that may train, outside gold.

    People's labels (and imported and reviewed ones) vote; an LLM label counts only where the
    router auto-accepted it and nobody labeled the record. Held records (e.g. flagged toxic and
    not cleared by a curator) never train.
    """
    trainable = Annotation.objects.filter(
        project=project,
        record__split__in=[Split.POOL, Split.TRAIN],
        record__held=False,
        # Dropped by a filter run, or a generated item not approved by a curator: never trains.
        record__filtered_by__isnull=True,
        record__review__in=TRAINABLE_REVIEW,
    )
    task = project.task_type
    labels = consensus_labels(
        label_votes(trainable.filter(source__in=TRAINING_SOURCES), task),
        method=project.settings_obj.consensus,
    )
    auto = consensus_labels(
        label_votes(
            trainable.filter(source=Source.LLM, record__route=RoutingDecision.Decision.AUTO), task
        )
    )
    for record_id, consensus in auto.items():
        labels.setdefault(record_id, consensus)
    return {
        record_id: (consensus.annotation_id, consensus.label)
        for record_id, consensus in labels.items()
    }


def gold_annotations(project: Project) -> dict[int, tuple[int, str]]:
    """record id -> (annotation id, label) of the true label of each gold record: imported with
    it, or set by a curator's review.

    Annotators' labels on gold records (gold checks) are what gets graded, never the truth.
    """
    annotations = Annotation.objects.filter(
        project=project, source__in=GOLD_SOURCES, record__split=Split.GOLD
    )
    return {
        record_id: (consensus.annotation_id, consensus.label)
        for record_id, consensus in consensus_labels(
            label_votes(annotations, project.task_type)
        ).items()
    }


def gold_labels(project: Project) -> dict[int, str]:
    return {record_id: label for record_id, (_, label) in gold_annotations(project).items()}
