"""Job lifecycle: create, hand to the broker, claim, report progress, finish.

A job row is claimed with a conditional UPDATE, so a message delivered twice (acks_late after a
worker died, a broker redelivery) runs the job body at most once at a time, and a finished job
is never run again.
"""

from __future__ import annotations

import logging
import math
import traceback
from typing import Any

from django import db
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from curator.celery import app, ensure_broker_folders
from curator.models import Job, JobChunk, Project, User

logger = logging.getLogger(__name__)

# Which Celery task runs each job kind, and on which queue: model work to `gpu`, the rest to `cpu`.
JOB_TASKS: dict[str, tuple[str, str]] = {
    Job.Kind.IMPORT: ("workers.tasks.import_records", "cpu"),
    Job.Kind.ROUND: ("workers.tasks.run_round", "gpu"),
    Job.Kind.PRELABEL: ("workers.tasks.run_fanned_out", "gpu"),
    Job.Kind.TOXICITY: ("workers.tasks.run_fanned_out", "gpu"),
    Job.Kind.JUDGE: ("workers.tasks.run_fanned_out", "gpu"),
    Job.Kind.GENERATE: ("workers.tasks.run_fanned_out", "gpu"),
    # Semantic dedup, perplexity and IFD need the encoder and the LLM.
    Job.Kind.FILTER: ("workers.tasks.run_filters", "gpu"),
    Job.Kind.NOISE: ("workers.tasks.run_noise", "gpu"),
}
CHUNK_TASK = "workers.tasks.run_chunk"


class Deferred:
    """Returned by a job body whose chunks finish the job later."""


DEFERRED = Deferred()


class BrokerUnavailable(RuntimeError):
    """The job could not be queued; it is marked failed and nothing else happened."""


class JobCancelled(Exception):
    pass


# Errors worth another try: the database or the network blinked. Everything else fails the job.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    db.OperationalError,
    db.InterfaceError,
    ConnectionError,
    TimeoutError,
)


def job_create(
    *,
    project: Project,
    kind: str,
    params: dict[str, Any] | None = None,
    created_by: User | None = None,
    round_id: int | None = None,
) -> Job:
    return Job.objects.create(
        project=project,
        kind=kind,
        params=params or {},
        created_by=created_by if created_by and created_by.is_authenticated else None,
        round_id=round_id,
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
    task_name, queue = JOB_TASKS[job.kind]
    transaction.on_commit(lambda: _send(task_name, job.pk, queue, job.pk), robust=False)


def job_fan_out(job: Job, record_ids: list[int], chunk_size: int) -> list[JobChunk]:
    """Split the job's records into chunks, each a task any worker of the job's queue can take.

    There is no Celery chord (which needs a result backend): each chunk counts itself done in
    the job row, under a row lock, and the one that completes the count finalises the job.
    """
    _, queue = JOB_TASKS[job.kind]
    with transaction.atomic():
        chunks = JobChunk.objects.bulk_create(
            [
                JobChunk(job=job, index=i, record_ids=record_ids[start : start + chunk_size])
                for i, start in enumerate(range(0, len(record_ids), chunk_size))
            ]
        )
        Job.objects.filter(pk=job.pk).update(
            chunks_total=len(chunks), progress_total=len(record_ids), stage="running chunks"
        )
        for chunk in chunks:
            transaction.on_commit(
                lambda chunk_id=chunk.pk: _send(CHUNK_TASK, chunk_id, queue, job.pk), robust=False
            )
    return chunks


def chunk_claim(chunk_id: int) -> JobChunk | None:
    """The chunk, marked running, if it is not done and its job still runs."""
    claimed = JobChunk.objects.filter(
        pk=chunk_id,
        status__in=[JobChunk.Status.QUEUED, JobChunk.Status.RUNNING],
        job__status=Job.Status.RUNNING,
    ).update(status=JobChunk.Status.RUNNING, attempts=F("attempts") + 1, error="")
    if not claimed:
        return None
    return JobChunk.objects.select_related("job", "job__project").get(pk=chunk_id)


def chunk_complete(chunk: JobChunk, seconds: float) -> bool:
    """Count the chunk done; True for the call that completed the job's last chunk."""
    with transaction.atomic():
        if not JobChunk.objects.filter(pk=chunk.pk, status=JobChunk.Status.RUNNING).update(
            status=JobChunk.Status.DONE, seconds=seconds
        ):
            return False  # a redelivered copy already counted it
        job = Job.objects.select_for_update().get(pk=chunk.job_id)
        job.chunks_done += 1
        job.progress_done += len(chunk.record_ids)
        job.save(update_fields=["chunks_done", "progress_done"])
        return job.chunks_done == job.chunks_total


def chunk_fail(chunk: JobChunk, error: str) -> None:
    JobChunk.objects.filter(pk=chunk.pk).update(status=JobChunk.Status.FAILED, error=error[:5000])
    job_fail(chunk.job_id, f"chunk {chunk.index} failed: {error}")


def job_claim(job_id: int) -> Job | None:
    """Mark the job running if it is not finished; None when someone else finished it."""
    claimed = Job.objects.filter(
        pk=job_id, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]
    ).update(
        status=Job.Status.RUNNING,
        started_at=timezone.now(),
        attempts=F("attempts") + 1,
        error="",
    )
    if not claimed:
        return None
    return Job.objects.get(pk=job_id)


def job_progress(
    job: Job, *, done: int, total: int | None = None, stage: str | None = None
) -> None:
    """Record progress; raises JobCancelled when a user cancelled the job meanwhile."""
    fields: dict[str, Any] = {"progress_done": done}
    if total is not None:
        fields["progress_total"] = total
    if stage is not None:
        fields["stage"] = stage
    updated = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(**fields)
    if not updated:
        raise JobCancelled(f"job {job.pk} was cancelled")
    for key, value in fields.items():
        setattr(job, key, value)


def json_safe(value: Any) -> Any:
    """NaN and infinities are not JSON: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def job_succeed(job: Job, *, metrics: dict[str, Any] | None = None) -> None:
    """Mark the job done; its wall time runs from the last claim (fanned-out jobs included)."""
    now = timezone.now()
    seconds = (now - job.started_at).total_seconds() if job.started_at else None
    with transaction.atomic():
        done = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
            status=Job.Status.SUCCEEDED,
            metrics=json_safe(metrics or {}),
            timings={"seconds": round(seconds, 3)} if seconds is not None else {},
            finished_at=now,
            progress_done=F("progress_total"),
            stage="done",
        )
        if done and job.round_id:
            from curator.services.rounds import pipeline_advance  # rounds imports this module

            pipeline_advance(job)


def job_fail(job_id: int, error: str) -> None:
    failed = (
        Job.objects.filter(pk=job_id)
        .exclude(status__in=Job.FINISHED)
        .update(status=Job.Status.FAILED, error=error[:10_000], finished_at=timezone.now())
    )
    job = Job.objects.filter(pk=job_id).only("round_id", "kind").first()
    if failed and job is not None and job.round_id:
        from curator.services.rounds import pipeline_failed

        pipeline_failed(job)


def job_cancel(job: Job) -> bool:
    return bool(
        Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
            status=Job.Status.CANCELLED, finished_at=timezone.now()
        )
    )


def job_run(job_id: int, body: Any) -> Job | None:
    """Claim the job, run `body(job)` (which returns metrics), and record the outcome.

    Expected failures (bad input, a model that cannot load) end the job as failed with a message
    for the user; the exception is not re-raised, so Celery does not retry what cannot succeed.
    """
    job = job_claim(job_id)
    if job is None:
        logger.info("job %s already finished; nothing to do", job_id)
        return None
    try:
        metrics = body(job) or {}
        if metrics is DEFERRED:
            return job
        job_succeed(job, metrics=metrics)
    except JobCancelled:
        logger.info("job %s cancelled", job_id)
        return job
    except TRANSIENT_ERRORS:
        # Hand the job back and let Celery retry the task; the body is idempotent.
        logger.warning("job %s hit a transient error; it will be retried", job_id, exc_info=True)
        db.close_old_connections()
        Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(status=Job.Status.QUEUED)
        raise
    except Exception as error:
        logger.exception("job %s failed", job_id)
        message = str(error) or error.__class__.__name__
        # ValueError means the input was wrong: the message is for the user, a traceback is noise.
        if not isinstance(error, ValueError):
            message = f"{message}\n\n{traceback.format_exc(limit=5)}"
        job_fail(job.pk, message)
    return job
