from __future__ import annotations

from django.conf import settings
from django.db import models

from curator.models.projects import Project
from curator.models.records import Record


class Round(models.Model):
    """One turn of the flywheel: train on a fixed snapshot of labels, evaluate, score the pool."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        BLOCKED = "blocked", "Stopped by a gate"
        CANCELLED = "cancelled", "Cancelled"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    # Written only by curator.services.round_lifecycle (its table says which moves are allowed).
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # What the round trains: a name in curator.round_kinds (e.g. "classifier").
    kind = models.CharField(max_length=32, default="classifier")
    config = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    # File under MEDIA_ROOT and its sha256, so the exact trained model can be found and verified.
    model_artifact = models.CharField(max_length=500, blank=True)
    model_sha256 = models.CharField(max_length=64, blank=True)
    # sha256 over the sorted (record hash, label) pairs of the snapshot: equal hashes, equal data.
    snapshot_sha256 = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="round_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.project} round {self.number}"


class RoundSnapshotItem(models.Model):
    """One training example of a round: this record, with this label, from this annotation."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="snapshot_items")
    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="+")
    annotation = models.ForeignKey(
        "annotation.Annotation", on_delete=models.PROTECT, related_name="+"
    )
    label = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["round", "record"], name="snapshot_unique_record")
        ]

    def __str__(self) -> str:
        return f"round {self.round_id}: record {self.record_id} = {self.label}"
