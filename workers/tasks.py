"""Celery tasks: thin wrappers that hand a job (or chunk) id to its job function.

Each task acknowledges late, so a worker killed mid-job leaves the message to be redelivered; the
job functions are idempotent, which is what makes that safe.
"""

from __future__ import annotations

from celery import shared_task

from curator.services.imports import import_file
from curator.services.jobs import job_run
from workers.jobs import fanout
from workers.jobs.round import round_run


@shared_task(name="workers.tasks.import_records", acks_late=True)
def import_records(job_id: int) -> None:
    job_run(job_id, import_file)


@shared_task(name="workers.tasks.run_round", acks_late=True)
def run_round(job_id: int) -> None:
    job_run(job_id, round_run)


@shared_task(name="workers.tasks.run_fanned_out", acks_late=True)
def run_fanned_out(job_id: int) -> None:
    job_run(job_id, fanout.plan_and_fan_out)


@shared_task(name="workers.tasks.run_chunk", acks_late=True)
def run_chunk(chunk_id: int) -> None:
    fanout.run_chunk(chunk_id)
