"""Label reads: which label each record carries for training, and the truth of each gold record.

Every screen, job and round that asks "what is this record's label" reads it here, so consensus,
routing and review rules are applied the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.db.models import QuerySet

from annotation import task_types
from annotation.consensus import LabelVote, consensus_estimates, consensus_labels
from annotation.models import Annotation, Source
from curator.models import Project, ReviewState, RoutingDecision, Split

TRAINING_SOURCES = (Source.HUMAN, Source.REVIEW, Source.IMPORT)
GOLD_SOURCES = (Source.IMPORT, Source.REVIEW)
TRAINABLE_REVIEW = ("", ReviewState.APPROVED)

# Records with lo < id <= hi (hi None: no upper end): a range settled on its own. Every label
# read here is per record (Dawid-Skene's fit aside, passed in as estimates), so ranges give
# exactly the labels of one read of everything, a range at a time.
RecordRange = tuple[int, int | None]


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


def _trainable(project: Project) -> QuerySet[Annotation]:
    return Annotation.objects.filter(
        project=project,
        record__split__in=[Split.POOL, Split.TRAIN],
        record__held=False,
        # Dropped by a filter run, or a generated item not approved by a curator: never trains.
        record__filtered_by__isnull=True,
        record__review__in=TRAINABLE_REVIEW,
    )


def _within(annotations: QuerySet[Annotation], records: RecordRange | None) -> QuerySet[Annotation]:
    if records is None:
        return annotations
    low, high = records
    annotations = annotations.filter(record_id__gt=low)
    return annotations if high is None else annotations.filter(record_id__lte=high)


def training_estimates(project: Project) -> dict[int, str] | None:
    """What the project's consensus method settles records by beyond their own votes, over all
    of its trainable votes (None for majority); `training_labels` of a range takes it."""
    method = project.settings_obj.consensus
    if method == "majority":
        return None
    votes = label_votes(_trainable(project).filter(source__in=TRAINING_SOURCES), project.task_type)
    return consensus_estimates(votes, method)


def training_labels(
    project: Project,
    records: RecordRange | None = None,
    estimates: dict[int, str] | None = None,
) -> dict[int, tuple[int, str]]:
    """record id -> (annotation id, label) for every record that may train, outside gold.

    People's labels (and imported and reviewed ones) vote; an LLM label counts only where the
    router auto-accepted it and nobody labeled the record. Held records (e.g. flagged toxic and
    not cleared by a curator) never train. With `records`, only the records in that range, with
    `estimates` (`training_estimates`) where the consensus method needs all the project's votes.
    """
    trainable = _within(_trainable(project), records)
    task = project.task_type
    method = project.settings_obj.consensus
    if records is not None and estimates is None:
        estimates = training_estimates(project)
    labels = consensus_labels(
        label_votes(trainable.filter(source__in=TRAINING_SOURCES), task),
        method=method,
        estimates=estimates,
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


def gold_annotations(
    project: Project, records: RecordRange | None = None
) -> dict[int, tuple[int, str]]:
    """record id -> (annotation id, label) of the true label of each gold record: imported with
    it, or set by a curator's review (with `records`, of the gold records in that range).

    Annotators' labels on gold records (gold checks) are what gets graded, never the truth.
    """
    annotations = _within(
        Annotation.objects.filter(
            project=project, source__in=GOLD_SOURCES, record__split=Split.GOLD
        ),
        records,
    )
    return {
        record_id: (consensus.annotation_id, consensus.label)
        for record_id, consensus in consensus_labels(
            label_votes(annotations, project.task_type)
        ).items()
    }


def exported_labels(
    project: Project, ranges: Iterable[RecordRange]
) -> Iterator[dict[int, tuple[int, str]]]:
    """Per range of records, in turn: record id -> (annotation id, label) of every labeled
    record an export writes (training labels and gold truth). Memory holds one range's votes
    (and, for Dawid-Skene, the fit's label per record), whatever the project's size."""
    estimates = training_estimates(project)
    for records in ranges:
        yield {
            **training_labels(project, records, estimates),
            **gold_annotations(project, records),
        }


def gold_labels(project: Project) -> dict[int, str]:
    return {record_id: label for record_id, (_, label) in gold_annotations(project).items()}
