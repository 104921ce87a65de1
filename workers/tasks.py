"""Celery tasks: thin wrappers that hand a job (or chunk) id to its job function.

Each task acknowledges late, so a worker killed mid-job leaves the message to be redelivered; the
job functions are idempotent, which is what makes that safe.
"""

from __future__ import annotations

from celery import shared_task

from curator.services.imports import import_file
from curator.services.jobs import TRANSIENT_ERRORS, job_run
from workers.jobs import fanout
from workers.jobs.filters import filter_run
from workers.jobs.noise import noise_run
from workers.jobs.round import round_run

# Transient failures are retried with backoff; a job never runs past its hard time limit.
RETRY = {
    "acks_late": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 5,
    "retry_kwargs": {"max_retries": 5},
    "time_limit": 6 * 3600,
}


@shared_task(name="workers.tasks.import_records", **RETRY)
def import_records(job_id: int) -> None:
    job_run(job_id, import_file)


@shared_task(name="workers.tasks.run_round", **RETRY)
def run_round(job_id: int) -> None:
    job_run(job_id, round_run)


@shared_task(name="workers.tasks.run_fanned_out", **RETRY)
def run_fanned_out(job_id: int) -> None:
    job_run(job_id, fanout.plan_and_fan_out)


@shared_task(name="workers.tasks.run_chunk", **RETRY)
def run_chunk(chunk_id: int) -> None:
    fanout.run_chunk(chunk_id)


@shared_task(name="workers.tasks.run_filters", **RETRY)
def run_filters(job_id: int) -> None:
    job_run(job_id, filter_run)


@shared_task(name="workers.tasks.run_noise", **RETRY)
def run_noise(job_id: int) -> None:
    job_run(job_id, noise_run)
