"""The job runtime: claim a job or chunk under a lease, keep the lease alive, run, record.

Claiming is one conditional UPDATE: a row is taken when it is queued, or when it is running but
its holder's lease has passed (the holder died). So a second delivery of a live job's message
(a broker redelivery, the sweep, a user's retry) finds the row held and returns without running.
While the body runs a heartbeat thread renews the lease every third of its length, and every
progress report renews it too; both only while this holder still holds the claim, so a worker
that lost its lease (it stalled, the sweep handed its job to another) notices and stops, and it
can never finish or fail a job someone else now holds.

Which body runs is looked up in the registry of job kinds (`curator.job_kinds`): the runner's
dotted path is imported here, in the worker, on first use.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django import db
from django.conf import settings
from django.db import transaction
from django.db.models import F, Model, Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.module_loading import import_string

from curator import job_kinds
from curator.json_values import json_safe
from curator.models import Job, JobChunk
from curator.services.jobs import JobCancelled, job_fail, job_upload_remove, resend_after
from curator.services.rounds import pipeline_advance

logger = logging.getLogger(__name__)

Body = Callable[[Job], Any]


class Deferred:
    """Returned by a job body whose chunks finish the job later."""


DEFERRED = Deferred()

# Errors worth another try: the database or the network blinked. Everything else fails the job.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    db.OperationalError,
    db.InterfaceError,
    ConnectionError,
    TimeoutError,
)


# --- leases -------------------------------------------------------------------------------------
def lease_end() -> Any:
    """The end of a lease taken or renewed now, in the database's clock (one clock for all)."""
    return Now() + timedelta(seconds=settings.CURATOR_JOB_LEASE_SECONDS)


def new_holder() -> str:
    """Who holds a claim: this host and process, and a token unique to the one claim."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"[:128]


def _claimable(status_queued: str, status_running: str) -> Q:
    return Q(status=status_queued) | Q(status=status_running, lease_expires_at__lt=Now())


def lease_renew(model: type[Model], pk: int, holder: str) -> bool:
    """Extend the lease; False when this holder no longer holds the row (lost or finished)."""
    return bool(
        model._default_manager.filter(
            pk=pk, status="running", claimed_by=holder, lease_expires_at__isnull=False
        ).update(lease_expires_at=lease_end())
    )


class Heartbeat:
    """A daemon thread that renews one lease every third of its length until stopped.

    A training step can run for minutes without a progress report; the heartbeat keeps the
    lease while the process lives. `lost` turns true once a renewal finds the claim gone.
    """

    def __init__(self, model: type[Model], pk: int, holder: str) -> None:
        self.model, self.pk, self.holder = model, pk, holder
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"heartbeat-{model.__name__}-{pk}", daemon=True
        )

    def _beat(self) -> None:
        interval = settings.CURATOR_JOB_LEASE_SECONDS / 3
        try:
            while not self._stop.wait(interval):
                try:
                    renewed = lease_renew(self.model, self.pk, self.holder)
                except Exception:
                    # The database blinked: try again next beat; the lease has two beats left.
                    logger.warning("heartbeat of %s %s failed", self.model.__name__, self.pk,
                                   exc_info=True)  # fmt: skip
                    db.close_old_connections()
                    continue
                if not renewed:
                    # Finished, cancelled, fanned out to chunks, or taken over by another worker.
                    self.lost = True
                    logger.info("%s %s: no lease to renew", self.model.__name__, self.pk)
                    return
        finally:
            db.connection.close()  # this thread's own connection

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


# --- jobs ---------------------------------------------------------------------------------------
def job_claim(job_id: int) -> Job | None:
    """The job, claimed by this process under a fresh lease; None when it is not claimable.

    Not claimable: finished (or cancelled), held under a live lease by another worker, or fanned
    out (its chunks hold the work).
    """
    holder = new_holder()
    claimed = (
        Job.objects.filter(pk=job_id)
        .filter(_claimable(Job.Status.QUEUED, Job.Status.RUNNING))
        .update(
            status=Job.Status.RUNNING,
            claimed_by=holder,
            lease_expires_at=lease_end(),
            started_at=timezone.now(),
            attempts=F("attempts") + 1,
            error="",
        )
    )
    if not claimed:
        return None
    return Job.objects.get(pk=job_id)


def _why_not_claimed(job_id: int) -> str:
    job = Job.objects.filter(pk=job_id).only("status", "claimed_by", "lease_expires_at").first()
    if job is None:
        return "it no longer exists"
    if job.is_finished:
        return f"it is {job.status}"
    if job.lease_expires_at is None:
        return "its chunks hold the work"
    return f"it is held by {job.claimed_by} until {job.lease_expires_at:%H:%M:%S}"


def job_progress(
    job: Job, *, done: int, total: int | None = None, stage: str | None = None
) -> None:
    """Record progress and renew the lease.

    Raises JobCancelled when the job was cancelled meanwhile or this worker no longer holds it.
    """
    fields: dict[str, Any] = {"progress_done": done}
    if total is not None:
        fields["progress_total"] = total
    if stage is not None:
        fields["stage"] = stage
    updated = Job.objects.filter(
        pk=job.pk, status=Job.Status.RUNNING, claimed_by=job.claimed_by
    ).update(**fields, lease_expires_at=lease_end())
    if not updated:
        raise JobCancelled(f"job {job.pk} was cancelled or another worker holds it now")
    for key, value in fields.items():
        setattr(job, key, value)


def job_succeed(job: Job, *, metrics: dict[str, Any] | None = None) -> bool:
    """Mark the job done, if this holder still holds it; a round's next step is queued with it.

    Its wall time runs from the last claim (fanned-out jobs included). False when the job was
    cancelled, finished, or taken over meanwhile: nothing is written then.
    """
    now = timezone.now()
    seconds = (now - job.started_at).total_seconds() if job.started_at else None
    with transaction.atomic():
        done = Job.objects.filter(
            pk=job.pk, status=Job.Status.RUNNING, claimed_by=job.claimed_by
        ).update(
            status=Job.Status.SUCCEEDED,
            metrics=json_safe(metrics or {}),
            timings={"seconds": round(seconds, 3)} if seconds is not None else {},
            finished_at=now,
            progress_done=F("progress_total"),
            stage="done",
            lease_expires_at=None,
        )
        if done and job.round_id:
            pipeline_advance(job)
        if done:
            job_upload_remove(job.pk)
    return bool(done)


def runner_of(kind: str) -> Body:
    """The body that runs a job of `kind`, imported from the registry's dotted path."""
    return import_string(job_kinds.get(kind).runner)


def _failure_message(error: Exception) -> str:
    message = str(error) or error.__class__.__name__
    # ValueError means the input was wrong: the message is for the user, a traceback is noise.
    if not isinstance(error, ValueError):
        message = f"{message}\n\n{traceback.format_exc(limit=5)}"
    return message


def job_run(job_id: int, body: Body | None = None) -> Job | None:
    """Claim the job, run its body (the kind's runner unless given), and record the outcome.

    Returns None, running nothing, when the job is not claimable (see `job_claim`). Expected
    failures (bad input, a model that cannot load) end the job as failed with a message for the
    user; the exception is not re-raised, so Celery does not retry what cannot succeed.
    """
    job = job_claim(job_id)
    if job is None:
        logger.info("job %s: this delivery does nothing, %s", job_id, _why_not_claimed(job_id))
        return None
    try:
        run = body or runner_of(job.kind)
        with Heartbeat(Job, job.pk, job.claimed_by):
            metrics = run(job) or {}
        if metrics is DEFERRED:
            return job
        if not job_succeed(job, metrics=metrics):
            logger.warning("job %s finished here, but it was cancelled or taken over", job_id)
    except JobCancelled:
        logger.info("job %s stopped: cancelled, or another worker holds it", job_id)
    except TRANSIENT_ERRORS:
        # Hand the job back and let Celery retry the task; the body is idempotent.
        logger.warning("job %s hit a transient error; it will be retried", job_id, exc_info=True)
        db.close_old_connections()
        Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, claimed_by=job.claimed_by).update(
            status=Job.Status.QUEUED, claimed_by="", lease_expires_at=resend_after()
        )
        raise
    except Exception as error:
        logger.exception("job %s failed", job_id)
        job_fail(job.pk, _failure_message(error), claimed_by=job.claimed_by)
    return job


# --- chunks of fanned-out jobs ------------------------------------------------------------------
def chunk_claim(chunk_id: int) -> JobChunk | None:
    """The chunk, claimed under a fresh lease, if it is not done, not held, and its job runs."""
    holder = new_holder()
    claimed = (
        JobChunk.objects.filter(pk=chunk_id, job__status=Job.Status.RUNNING)
        .filter(_claimable(JobChunk.Status.QUEUED, JobChunk.Status.RUNNING))
        .update(
            status=JobChunk.Status.RUNNING,
            claimed_by=holder,
            lease_expires_at=lease_end(),
            attempts=F("attempts") + 1,
            error="",
        )
    )
    if not claimed:
        return None
    return JobChunk.objects.select_related("job", "job__project").get(pk=chunk_id)


def chunk_complete(chunk: JobChunk, seconds: float) -> bool:
    """Count the chunk done; True for the call that completed the job's last chunk.

    Only the chunk's holder counts it, once: a copy that lost its lease counts nothing.
    """
    with transaction.atomic():
        if not JobChunk.objects.filter(
            pk=chunk.pk, status=JobChunk.Status.RUNNING, claimed_by=chunk.claimed_by
        ).update(status=JobChunk.Status.DONE, seconds=seconds, lease_expires_at=None):
            return False
        job = Job.objects.select_for_update().get(pk=chunk.job_id)
        job.chunks_done += 1
        job.progress_done += len(chunk.record_ids)
        job.save(update_fields=["chunks_done", "progress_done"])
        return job.chunks_done == job.chunks_total


def chunk_fail(chunk: JobChunk, error: str) -> None:
    """Fail the chunk and its job, if this holder still holds the chunk."""
    if JobChunk.objects.filter(
        pk=chunk.pk, status=JobChunk.Status.RUNNING, claimed_by=chunk.claimed_by
    ).update(status=JobChunk.Status.FAILED, error=error[:5000], lease_expires_at=None):
        job_fail(chunk.job_id, f"chunk {chunk.index} failed: {error}")


def chunk_release(chunk: JobChunk) -> None:
    """Hand the chunk back to the queue (a transient error; Celery retries the task)."""
    JobChunk.objects.filter(
        pk=chunk.pk, status=JobChunk.Status.RUNNING, claimed_by=chunk.claimed_by
    ).update(status=JobChunk.Status.QUEUED, claimed_by="", lease_expires_at=resend_after())


@contextmanager
def chunk_held(chunk: JobChunk) -> Iterator[Heartbeat]:
    with Heartbeat(JobChunk, chunk.pk, chunk.claimed_by) as heartbeat:
        yield heartbeat
