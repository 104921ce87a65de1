"""The `classifier` round: a classifier on the encoder's embeddings (or a fine-tuned encoder),
trained on the project's consensus labels, evaluated on gold, ranking the pool by uncertainty."""

from __future__ import annotations

from annotation.labels import training_labels
from curator.models import Project
from curator.round_kinds.base import RoundKind, RoundNotStartable, SnapshotRow


def classifier_snapshot_rows(project: Project) -> list[SnapshotRow]:
    """Every record that may train, with its consensus label; at least two labels are needed."""
    labels = training_labels(project)
    distinct = {label for _, label in labels.values()}
    if len(distinct) < 2:
        raise RoundNotStartable(
            "training needs labeled records of at least two different labels; "
            f"this project has {len(labels)} labeled record(s) of {len(distinct)} label(s)"
        )
    return [
        SnapshotRow(record_id=record_id, annotation_id=annotation_id, label=label)
        for record_id, (annotation_id, label) in labels.items()
    ]


KIND = RoundKind(
    name="classifier",
    title="Classifier",
    snapshot_rows=classifier_snapshot_rows,
    runner="workers.jobs.classifier_round.classifier_round_run",
    stages=("embed", "train", "evaluate", "score", "save", "feedback", "suggest"),
)
