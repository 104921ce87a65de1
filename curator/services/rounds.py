"""Starting rounds and fixing their training snapshot.

The snapshot is taken when the admin starts the round, inside the same transaction that numbers
it: the labels that exist at that moment, and only those, are what the round trains on.
"""

from __future__ import annotations

import hashlib

from django.db import transaction
from django.db.models import QuerySet

from annotation import task_types
from annotation.consensus import LabelVote, consensus_labels
from annotation.models import Annotation, Source
from curator.models import (
    Job,
    Project,
    Record,
    ReviewState,
    Round,
    RoundSnapshotItem,
    RoutingDecision,
    Split,
    User,
)
from curator.permissions import Action, require
from curator.services.audit import audit
from curator.services.jobs import NotStartable, job_create, job_dispatch

TRAINING_SOURCES = (Source.HUMAN, Source.REVIEW, Source.IMPORT)
GOLD_SOURCES = (Source.IMPORT, Source.REVIEW)
TRAINABLE_REVIEW = ("", ReviewState.APPROVED)


class RoundNotStartable(NotStartable):
    pass


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
        method=project.setting("consensus"),
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


def snapshot_digest(pairs: list[tuple[str, str]]) -> str:
    """sha256 over sorted (content hash, label) pairs: equal digests mean equal training data."""
    digest = hashlib.sha256()
    for content_hash, label in sorted(pairs):
        digest.update(f"{content_hash}\t{label}\n".encode())
    return digest.hexdigest()


def round_start(*, project: Project, user: User) -> Round:
    """Number a new round, freeze its training snapshot and queue its job."""
    require(user, project, Action.START_ROUND)
    if not task_types.spec(project.task_type).trainable:
        raise RoundNotStartable(
            f"rounds train a classifier; a {project.get_task_type_display().lower()} project "
            "exports its labels instead"
        )
    with transaction.atomic():
        # Serialises round starts of one project: one round at a time, numbers without gaps.
        Project.objects.select_for_update().get(pk=project.pk)
        if project.rounds.filter(status__in=[Round.Status.QUEUED, Round.Status.RUNNING]).exists():
            raise RoundNotStartable("a round of this project is already running")
        labels = training_labels(project)
        distinct = {label for _, label in labels.values()}
        if len(distinct) < 2:
            raise RoundNotStartable(
                "training needs labeled records of at least two different labels; "
                f"this project has {len(labels)} labeled record(s) of {len(distinct)} label(s)"
            )
        last = project.rounds.order_by("-number").values_list("number", flat=True).first() or 0
        round_ = Round.objects.create(project=project, number=last + 1, created_by=user)
        RoundSnapshotItem.objects.bulk_create(
            [
                RoundSnapshotItem(
                    round=round_, record_id=record_id, annotation_id=annotation_id, label=label
                )
                for record_id, (annotation_id, label) in labels.items()
            ],
            batch_size=2000,
        )
        hashes = dict(Record.objects.filter(pk__in=list(labels)).values_list("id", "content_hash"))
        round_.snapshot_sha256 = snapshot_digest(
            [(hashes[record_id], label) for record_id, (_, label) in labels.items()]
        )
        round_.save(update_fields=["snapshot_sha256"])
        job = job_create(project=project, kind=Job.Kind.ROUND, created_by=user, round_id=round_.pk)
        audit(user, "round.start", project=project, target=f"round {round_.number}", job=job.pk)
        job_dispatch(job)
    return round_
