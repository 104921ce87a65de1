"""Creating jobs and handing them to the broker; failing, cancelling and sweeping them.

What a job kind is (queue, parameters, runner) is declared in `curator.job_kinds`. Running a job
(claiming it under a lease, the heartbeat, recording success) is the workers' business:
`workers/runtime.py`. This module never imports the workers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Manager, QuerySet
from django.db.models.functions import Now
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from curator import job_kinds
from curator.celery import app, ensure_broker_folders
from curator.errors import NotStartable
from curator.models import Job, JobChunk, Project, User
from curator.services import round_lifecycle

logger = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """The job could not be queued; it is marked failed and nothing else happened."""


class JobCancelled(Exception):
    """Raised inside a job body: the job was cancelled, or another worker holds it now."""


def resend_after() -> Any:
    """When the sweep sends a still-queued row's task again (database time, like the leases)."""
    return Now() + timedelta(seconds=settings.CURATOR_SWEEP_QUEUED_SECONDS)


def job_create(
    *,
    project: Project,
    kind: str,
    params: dict[str, Any] | None = None,
    created_by: User | None = None,
    round_id: int | None = None,
) -> Job:
    if not job_kinds.exists(kind):
        raise NotStartable(f"unknown job kind {kind!r}")
    return Job.objects.create(
        project=project,
        kind=kind,
        params=params or {},
        created_by=created_by if created_by and created_by.is_authenticated else None,
        round_id=round_id,
        lease_expires_at=timezone.now() + timedelta(seconds=settings.CURATOR_SWEEP_QUEUED_SECONDS),
    )


def _send(task_name: str, object_id: int, queue: str, job_id: int) -> None:
    ensure_broker_folders()
    try:
        app.send_task(task_name, args=[object_id], queue=queue)
    except (BrokerError, OSError) as error:
        job_fail(job_id, f"could not queue the job: the task broker is unavailable ({error})")
        raise BrokerUnavailable(
            "The task broker is unavailable, so the job could not be started. "
            "Nothing was changed; try again when the workers are back."
        ) from error


def job_dispatch(job: Job) -> None:
    """Send the job to its queue once the surrounding transaction commits.

    Never falls back to running the job in the web process: if the broker does not answer, the
    job is marked failed with the reason and `BrokerUnavailable` is raised to the caller.
    """
    kind = job_kinds.get(job.kind)
    transaction.on_commit(lambda: _send(kind.task, job.pk, kind.queue, job.pk), robust=False)


def job_fan_out(job: Job, record_ids: list[int], chunk_size: int) -> list[JobChunk]:
    """Split the job's records into chunks, each a task any worker of the job's queue can take.

    There is no Celery chord (which needs a result backend): each chunk counts itself done in
    the job row, under a row lock, and the one that completes the count finalises the job. From
    here on the chunks hold the work: the job's own lease is cleared in the same commit, so the
    job is never claimed (and fanned out) whole again; the sweep looks after its chunks.
    """
    if chunk_size < 1:
        # No chunk would ever finish the job: fail it now rather than leave it running.
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    queue = job_kinds.get(job.kind).queue
    with transaction.atomic():
        chunks = JobChunk.objects.bulk_create(
            [
                JobChunk(
                    job=job,
                    index=i,
                    record_ids=record_ids[start : start + chunk_size],
                    lease_expires_at=timezone.now()
                    + timedelta(seconds=settings.CURATOR_SWEEP_QUEUED_SECONDS),
                )
                for i, start in enumerate(range(0, len(record_ids), chunk_size))
            ]
        )
        Job.objects.filter(pk=job.pk).update(
            chunks_total=len(chunks),
            progress_total=len(record_ids),
            stage="running chunks",
            claimed_by="",
            lease_expires_at=None,
        )
        for chunk in chunks:
            transaction.on_commit(partial(_send, job_kinds.RUN_CHUNK_TASK, chunk.pk, queue, job.pk))
    return chunks


def job_fail(job_id: int, error: str, *, claimed_by: str | None = None) -> bool:
    """Mark an unfinished job failed; with `claimed_by`, only while that holder holds it.

    A failed job of a round fails the round (in the same commit). True if this call failed it.
    """
    jobs = Job.objects.filter(pk=job_id).exclude(status__in=Job.FINISHED)
    if claimed_by is not None:
        jobs = jobs.filter(claimed_by=claimed_by)
    with transaction.atomic():
        failed = jobs.update(
            status=Job.Status.FAILED,
            error=error[:10_000],
            finished_at=timezone.now(),
            lease_expires_at=None,
        )
        job = Job.objects.filter(pk=job_id).only("round_id", "kind").first()
        if failed and job is not None and job.round_id:
            round_lifecycle.round_job_failed(job)
        if failed:
            job_upload_remove(job_id)
    return bool(failed)


def job_cancel(job: Job) -> bool:
    with transaction.atomic():
        cancelled = Job.objects.filter(
            pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]
        ).update(status=Job.Status.CANCELLED, finished_at=timezone.now(), lease_expires_at=None)
        if cancelled:
            job_upload_remove(job.pk)
    return bool(cancelled)


def job_upload_remove(job_id: int) -> None:
    """Once an import job has finished (succeeded, failed or cancelled), its upload is deleted
    when the commit that finished it lands: nothing of an upload outlives its import. Until
    then the file stays, so a job a dead worker left is run again from it."""
    stored = (
        Job.objects.filter(pk=job_id, kind=Job.Kind.IMPORT)
        .values_list("params__path", flat=True)
        .first()
    )
    if not isinstance(stored, str) or not stored:
        return
    uploads = (Path(settings.MEDIA_ROOT) / "imports").resolve()
    path = (Path(settings.MEDIA_ROOT) / stored).resolve()
    if path.parent != uploads:  # only ever a file the upload itself wrote
        return
    transaction.on_commit(lambda: path.unlink(missing_ok=True))


@dataclass(frozen=True)
class SweepResult:
    jobs_requeued: int
    chunks_requeued: int
    jobs_resent: int
    chunks_resent: int
    jobs_failed: int


def _expired(rows: Manager[Any] | QuerySet[Any], status: str) -> QuerySet[Any]:
    return rows.filter(status=status, lease_expires_at__lt=Now())


def jobs_sweep() -> SweepResult:
    """Hand every job and chunk whose worker stopped answering back to its queue.

    A running row whose lease has passed goes back to `queued` and its task is sent again (the
    holder, if it is alive after all, finds the claim gone at its next progress report and
    stops). A queued row no worker took by its `lease_expires_at` is sent again, in case its
    message was lost. Each row is re-sent at most once per CURATOR_SWEEP_QUEUED_SECONDS. A job
    that was claimed CURATOR_JOB_MAX_ATTEMPTS times fails instead: it is killing its workers.
    """
    max_attempts = settings.CURATOR_JOB_MAX_ATTEMPTS
    failed = 0
    for job_id in (
        _expired(Job.objects, Job.Status.RUNNING)
        .filter(attempts__gte=max_attempts)
        .values_list("pk", flat=True)
    ):
        failed += job_fail(
            job_id, f"the job stopped answering on {max_attempts} attempts; it was given up"
        )
    for chunk in _expired(JobChunk.objects, JobChunk.Status.RUNNING).filter(
        attempts__gte=max_attempts
    ):
        failed += job_fail(
            chunk.job_id,
            f"chunk {chunk.index} stopped answering on {max_attempts} attempts; it was given up",
        )
    requeue = {
        "status": Job.Status.QUEUED,
        "claimed_by": "",
        "lease_expires_at": resend_after(),
    }
    with transaction.atomic():
        lost_jobs = list(
            _expired(Job.objects, Job.Status.RUNNING)
            .select_for_update(skip_locked=True)
            .values_list("pk", "kind")
        )
        Job.objects.filter(pk__in=[pk for pk, _ in lost_jobs]).update(
            **requeue, stage="handed back: its worker stopped answering"
        )
        queued_jobs = list(
            _expired(Job.objects, Job.Status.QUEUED)
            .select_for_update(skip_locked=True)
            .values_list("pk", "kind")
        )
        Job.objects.filter(pk__in=[pk for pk, _ in queued_jobs]).update(
            lease_expires_at=resend_after()
        )
        chunk_rows = JobChunk.objects.filter(job__status=Job.Status.RUNNING).select_for_update(
            skip_locked=True, of=("self",)
        )
        lost_chunks = list(
            _expired(chunk_rows, JobChunk.Status.RUNNING).values_list("pk", "job_id", "job__kind")
        )
        JobChunk.objects.filter(pk__in=[pk for pk, _, _ in lost_chunks]).update(**requeue)
        queued_chunks = list(
            _expired(chunk_rows, JobChunk.Status.QUEUED).values_list("pk", "job_id", "job__kind")
        )
        JobChunk.objects.filter(pk__in=[pk for pk, _, _ in queued_chunks]).update(
            lease_expires_at=resend_after()
        )
        for pk, kind in lost_jobs + queued_jobs:
            _resend_on_commit(job_kinds.get(kind).task, pk, kind, pk)
        for pk, job_id, kind in lost_chunks + queued_chunks:
            _resend_on_commit(job_kinds.RUN_CHUNK_TASK, pk, kind, job_id)
    result = SweepResult(
        jobs_requeued=len(lost_jobs),
        chunks_requeued=len(lost_chunks),
        jobs_resent=len(queued_jobs),
        chunks_resent=len(queued_chunks),
        jobs_failed=failed,
    )
    if lost_jobs or lost_chunks or queued_jobs or queued_chunks or failed:
        logger.warning("job sweep: %s", result)
    return result


def _resend_on_commit(task_name: str, object_id: int, kind: str, job_id: int) -> None:
    queue = job_kinds.get(kind).queue

    def send() -> None:
        try:
            app.send_task(task_name, args=[object_id], queue=queue)
        except (BrokerError, OSError):
            # The row stays queued; the next sweep tries again.
            logger.warning("job sweep could not reach the broker for job %s", job_id)

    transaction.on_commit(send)
