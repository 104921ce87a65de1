from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from curator import job_kinds
from curator.models.projects import Project

# Keys of Job.timings while a job runs: when its first items were done, and how many. Its rate
# counts from there (the runtime writes them at the first progress report).
FIRST_DONE_AT = "first_done_at"
FIRST_DONE = "first_done"


class Job(models.Model):
    """One unit of background work. The Celery message carries only the id; the row is the truth."""

    # The names of the kinds declared in curator/job_kinds/ (Job.Kind.ROUND == "round"), so code
    # that means one kind can say so; the declarations themselves live only in the registry.
    Kind: Any = job_kinds.names_enum()

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
    # A callable: declaring a new kind in the registry needs no migration.
    kind = models.CharField(max_length=32, choices=job_kinds.choices)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=64, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    model_identity = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # The claim (see workers/runtime.py). While running: who holds the job and until when; the
    # holder's heartbeat extends the lease, and once it has passed anyone may claim the job again.
    # While queued: when the sweep sends the job's task again if no worker has taken it. NULL on
    # a running job whose chunks hold the work (fanned out) -- such a job is never reclaimed whole.
    claimed_by = models.CharField(max_length=128, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Fanned-out jobs: the last chunk to finish (chunks_done == chunks_total) finalises the job.
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    round = models.ForeignKey(
        "curator.Round", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    # The promoted version whose adapter the job's LLM ran with (None: the base model), set
    # when the job resolves its model: lineage of what the job labeled, judged or generated.
    model_version = models.ForeignKey(
        "curator.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "kind", "status"]),
            # The sweep's scan: only unfinished jobs, by lease end.
            models.Index(
                fields=["lease_expires_at"],
                name="job_unfinished_lease",
                condition=models.Q(status__in=["queued", "running"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def card_template(self) -> str | None:
        """The template that summarises this kind's metrics on the job card."""
        return job_kinds.get(self.kind).card_template if job_kinds.exists(self.kind) else None

    @property
    def elapsed_seconds(self) -> float | None:
        """Seconds since its (last) claim: until now while it runs, until it finished after."""
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return max(0.0, (end - self.started_at).total_seconds())

    @property
    def throughput(self) -> float | None:
        """Items done per second (records, pairs, rows). While it runs: since its first items
        were done, once more followed (loading a model is not the pace of the rest); else over
        its whole elapsed time."""
        if self.status == self.Status.RUNNING and (since := self._since_first_done()):
            seconds, done = since
            if seconds > 0 and done > 0:
                return done / seconds
        elapsed = self.elapsed_seconds
        if not elapsed or not self.progress_done:
            return None
        return self.progress_done / elapsed

    def _since_first_done(self) -> tuple[float, int] | None:
        """(seconds, items done) since the first progress report, if the runtime marked one."""
        timings = self.timings or {}
        first_at = parse_datetime(str(timings.get(FIRST_DONE_AT) or ""))
        if first_at is None:
            return None
        seconds = (timezone.now() - first_at).total_seconds()
        return seconds, self.progress_done - int(timings.get(FIRST_DONE) or 0)

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the rate so far, while it runs and knows its total; else None."""
        rate = self.throughput
        if self.status != self.Status.RUNNING or not rate or not self.progress_total:
            return None
        return max(0, self.progress_total - self.progress_done) / rate

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 100 if self.status == self.Status.SUCCEEDED else 0
        return min(100, round(100 * self.progress_done / self.progress_total))


class JobChunk(models.Model):
    """A slice of a fanned-out job's records, run as its own Celery task on any worker."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    record_ids = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True)
    # The chunk's own claim, with the same meaning as on Job.
    claimed_by = models.CharField(max_length=128, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["lease_expires_at"],
                name="jobchunk_unfinished_lease",
                condition=models.Q(status__in=["queued", "running"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="jobchunk_unique_index")
        ]

    def __str__(self) -> str:
        return f"chunk {self.index} of job {self.job_id} ({self.status})"
