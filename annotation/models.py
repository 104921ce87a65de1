from __future__ import annotations

import math

from django.conf import settings
from django.db import models
from django.db.models import Q


class Source(models.TextChoices):
    HUMAN = "human", "Human"
    MODEL = "model", "Model"
    LLM = "llm", "LLM"
    REVIEW = "review", "Review"
    IMPORT = "import", "Import"  # a label that came with the data (e.g. gold labels)


# The longest a label may say it took: a day. A larger (or NaN, infinite) figure is a broken
# timer or a hostile client, and would break every median of the annotators' speed.
MAX_SECONDS_SPENT = 24 * 3600.0


def seconds_usable(seconds: float | None) -> bool:
    """Whether a stored seconds_spent can enter figures (rows stored before the check may not)."""
    return seconds is not None and math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS_SPENT


class Annotation(models.Model):
    """A label. Rows are never updated: a correction is a new row that supersedes the old one."""

    # Indexed by (record, source) and (project, source, id) below: a plain index on either key
    # would be a second entry per label to write (an import writes 100k of them at once).
    record = models.ForeignKey(
        "curator.Record", on_delete=models.CASCADE, related_name="annotations", db_index=False
    )
    project = models.ForeignKey(
        "curator.Project", on_delete=models.CASCADE, related_name="annotations", db_index=False
    )
    value = models.JSONField()
    source = models.CharField(max_length=16, choices=Source.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="annotations",
        db_index=False,
    )
    job = models.ForeignKey("curator.Job", null=True, blank=True, on_delete=models.PROTECT)
    confidence = models.FloatField(null=True, blank=True)
    suggestion_accepted = models.BooleanField(null=True, blank=True)
    round = models.ForeignKey(
        "curator.Round", null=True, blank=True, on_delete=models.PROTECT, db_index=False
    )
    supersedes = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
        db_index=False,
    )
    # Time on the card, as the client measured it: finite, 0..MAX_SECONDS_SPENT (services check).
    seconds_spent = models.FloatField(null=True, blank=True)
    # For an adjudication (source "review"): the labels the curator weighed against each other.
    adjudicates = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # Re-running a job's chunk never stores a second label for the same record.
            models.UniqueConstraint(
                fields=["record", "job"],
                condition=Q(job__isnull=False),
                name="annotation_one_per_job",
            )
        ]
        indexes = [
            models.Index(fields=["project", "source", "id"]),
            models.Index(fields=["record", "source"]),
            # Keys empty on many labels (imported and model labels have no author; most have no
            # round and supersede nothing): only the set ones are indexed, as on records. A
            # lookup by value, or a PROTECT check on delete, implies IS NOT NULL.
            *(
                models.Index(
                    fields=[name],
                    condition=Q(**{f"{name}__isnull": False}),
                    name=f"annotation_{name}_set",
                )
                for name in ("author", "round", "supersedes")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} label {self.value!r} on record {self.record_id}"


# The skip reason by which an annotator says a text is offensive: a toxicity decision.
OFFENSIVE_SKIP = "offensive"


class Assignment(models.Model):
    """A record handed to one annotator, reserved until `lease_expires_at`."""

    class State(models.TextChoices):
        LEASED = "leased", "Leased"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Expired"
        # A curator sent the record back to the queue: its slot is free and its annotator may
        # be asked again.
        RETURNED = "returned", "Returned"

    record = models.ForeignKey(
        "curator.Record", on_delete=models.CASCADE, related_name="assignments"
    )
    project = models.ForeignKey(
        "curator.Project", on_delete=models.CASCADE, related_name="assignments"
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.LEASED)
    lease_expires_at = models.DateTimeField()
    skip_reason = models.CharField(max_length=200, blank=True)
    annotation = models.ForeignKey(
        Annotation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The last line of defence against handing one record twice to the same person.
            models.UniqueConstraint(
                fields=["record", "annotator"],
                condition=Q(state__in=["leased", "submitted"]),
                name="assignment_one_live_per_annotator",
            ),
            # An annotator works on one record of a project at a time: parallel requests (double
            # clicks, two tabs) get the same lease instead of each reserving a record.
            models.UniqueConstraint(
                fields=["annotator", "project"],
                condition=Q(state="leased"),
                name="assignment_one_lease_per_annotator",
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "lease_expires_at"],
                condition=Q(state="leased"),
                name="assignment_live_leases",
            ),
            models.Index(fields=["annotator", "project", "state"]),
        ]

    def __str__(self) -> str:
        return f"record {self.record_id} to user {self.annotator_id} ({self.state})"


class Comment(models.Model):
    """An annotator's note on a record; a flag asks curators to look at it."""

    record = models.ForeignKey("curator.Record", on_delete=models.CASCADE, related_name="comments")
    project = models.ForeignKey("curator.Project", on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="comments"
    )
    text = models.TextField(blank=True)
    flag = models.BooleanField(default=False)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["project", "id"],
                condition=Q(flag=True, resolved_at__isnull=True),
                name="comment_open_flags",
            )
        ]

    def __str__(self) -> str:
        return f"{'flag' if self.flag else 'comment'} on record {self.record_id}"


class RecordAssignee(models.Model):
    """A curator reserved a record for a named annotator: the queue serves it to them first and
    to nobody else (other assignees of the same record share it, up to the overlap)."""

    record = models.ForeignKey("curator.Record", on_delete=models.CASCADE, related_name="assignees")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reserved_records"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record", "annotator"], name="record_assignee_once")
        ]
        indexes = [models.Index(fields=["annotator", "record"])]

    def __str__(self) -> str:
        return f"record {self.record_id} reserved for user {self.annotator_id}"
