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
from curator.models import Project, Record, ReviewState, RoutingDecision, Split

TRAINING_SOURCES = (Source.HUMAN, Source.REVIEW, Source.IMPORT)
GOLD_SOURCES = (Source.IMPORT, Source.REVIEW)
TRAINABLE_REVIEW = ("", ReviewState.APPROVED)

# Records with lo < id <= hi (hi None: no upper end): a range settled on its own. Every label
# read here is per record (Dawid-Skene's fit aside, passed in as estimates), so ranges give
# exactly the labels of one read of everything, a range at a time.
RecordRange = tuple[int, int | None]


def label_votes(
    annotations: QuerySet[Annotation],
    task_type: str = task_types.CLASSIFICATION,
    stream: bool = True,
) -> list[LabelVote]:
    """The votes of `annotations`. `stream`: read through a server-side cursor, a chunk at a
    time (a whole project's); False for a range's few thousand, where a cursor's fast-start plan
    (PostgreSQL plans cursors for their first rows) can walk a whole index for each range."""
    rows = annotations.values_list("record_id", "id", "author_id", "job_id", "source", "value")
    return [
        LabelVote(
            record_id=record_id,
            annotation_id=annotation_id,
            author_key=f"user:{author_id}" if author_id else f"{source}:{job_id}",
            source=source,
            label=task_types.vote_key(task_type, value),
        )
        for record_id, annotation_id, author_id, job_id, source, value in (
            rows.iterator(chunk_size=5000) if stream else rows
        )
    ]


def _trainable_records() -> QuerySet[Record]:
    return Record.objects.filter(
        split__in=[Split.POOL, Split.TRAIN],
        held=False,
        # Dropped by a filter run, or a generated item not approved by a curator: never trains.
        filtered_by__isnull=True,
        review__in=TRAINABLE_REVIEW,
    )


def _votes(
    project: Project, records: QuerySet[Record], within: RecordRange | None = None
) -> QuerySet[Annotation]:
    """The project's annotations on `records` (a subquery, not a join: a range bounds both
    sides, where a join would read every record of the project for each range)."""
    annotations = Annotation.objects.filter(project=project)
    records = records.filter(project=project)
    if within is not None:
        low, high = within
        annotations = annotations.filter(record_id__gt=low)
        records = records.filter(pk__gt=low)
        if high is not None:
            annotations = annotations.filter(record_id__lte=high)
            records = records.filter(pk__lte=high)
    return annotations.filter(record__in=records)


def training_estimates(project: Project) -> dict[int, str] | None:
    """What the project's consensus method settles records by beyond their own votes, over all
    of its trainable votes (None for majority); `training_labels` of a range takes it."""
    method = project.settings_obj.consensus
    if method == "majority":
        return None
    votes = label_votes(
        _votes(project, _trainable_records()).filter(source__in=TRAINING_SOURCES),
        project.task_type,
    )
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
    task = project.task_type
    method = project.settings_obj.consensus
    if records is not None and estimates is None:
        estimates = training_estimates(project)
    labels = consensus_labels(
        label_votes(
            _votes(project, _trainable_records(), records).filter(source__in=TRAINING_SOURCES),
            task,
            stream=records is None,
        ),
        method=method,
        estimates=estimates,
    )
    auto = consensus_labels(
        label_votes(
            _votes(
                project,
                _trainable_records().filter(route=RoutingDecision.Decision.AUTO),
                records,
            ).filter(source=Source.LLM),
            task,
            stream=records is None,
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
    annotations = _votes(project, Record.objects.filter(split=Split.GOLD), records).filter(
        source__in=GOLD_SOURCES
    )
    return {
        record_id: (consensus.annotation_id, consensus.label)
        for record_id, consensus in consensus_labels(
            label_votes(annotations, project.task_type, stream=records is None)
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
