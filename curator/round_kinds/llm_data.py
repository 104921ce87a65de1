"""Which labels LLM rounds train on: final responses for SFT, settled choices for DPO and reward.

The snapshot keeps (record, annotation, label) like every round. An SFT label is the sha256 of
the final response, so the snapshot digest changes when any response does; the response itself
is read from the frozen, immutable annotation when the round trains.
"""

from __future__ import annotations

import hashlib

from annotation.labels import training_labels
from curator.models import Project
from curator.round_kinds.base import RoundNotStartable, SnapshotRow

# A tie says neither answer is better: it makes no preference pair.
PREFERENCE_CHOICES = ("a", "b")


def response_label(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def sft_snapshot_rows(project: Project) -> list[SnapshotRow]:
    """Every record with a final human-written or edited response (consensus as for labels)."""
    rows = [
        SnapshotRow(record_id=record_id, annotation_id=annotation_id, label=response_label(text))
        for record_id, (annotation_id, text) in training_labels(project).items()
        if text
    ]
    if not rows:
        raise RoundNotStartable(
            "an SFT round needs corrected responses; this project has none outside gold yet"
        )
    return rows


def preference_snapshot_rows(project: Project) -> list[SnapshotRow]:
    """Every pair with a settled choice of A or B; ties are left out."""
    rows = [
        SnapshotRow(record_id=record_id, annotation_id=annotation_id, label=choice)
        for record_id, (annotation_id, choice) in training_labels(project).items()
        if choice in PREFERENCE_CHOICES
    ]
    if not rows:
        raise RoundNotStartable(
            "a preference round needs pairs where people chose A or B (ties make no pair); "
            "this project has none outside gold yet"
        )
    return rows
