"""What a round kind declares, and what its runner hands back to the round job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from annotation import task_types
from curator.errors import NotStartable
from curator.models import Project


class RoundNotStartable(NotStartable):
    """A round cannot start now: wrong kind for the project, one running, too little data."""


@dataclass(frozen=True)
class SnapshotRow:
    """One training example a round freezes: this record, with this label, from this annotation."""

    record_id: int
    annotation_id: int
    label: str


@dataclass(frozen=True)
class RoundResult:
    """What a kind's runner returns: the round's metrics and the trained model's file."""

    metrics: dict[str, Any]
    model_artifact: str = ""
    model_sha256: str = ""


@dataclass(frozen=True)
class RoundKind:
    """One kind of round.

    - which task types it trains on is declared by each task type (`TaskType.round_kinds`); the
      start button, the API and `curator_round --kind` offer a kind only where it fits.
    - `snapshot_rows(project)`: the rows frozen into the round's snapshot when it starts (raises
      RoundNotStartable when the data cannot train yet).
    - `runner`: dotted path of `run(job, round_, **options) -> RoundResult`, the stages after the
      gates; imported in the worker only, so the web process never loads torch.
    """

    name: str
    title: str
    snapshot_rows: Callable[[Project], list[SnapshotRow]]
    runner: str
    stages: tuple[str, ...] = field(default=())
    # Trains the project's LLM (registers a ModelVersion): the round page shows the loss curve,
    # the evaluation table and the candidate to promote instead of classifier metrics.
    trains_llm: bool = False

    def fits(self, task_type: str) -> bool:
        # Each task type declares the round kinds that train on its labels (one place).
        return self.name in task_types.get(task_type).round_kinds
