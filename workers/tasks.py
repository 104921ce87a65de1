"""Celery tasks: thin wrappers that hand a job id to its job function.

Each task acknowledges late, so a worker killed mid-job leaves the message to be redelivered; the
job functions are idempotent, which is what makes that safe.
"""

from __future__ import annotations

from celery import shared_task

from curator.services.imports import import_file
from curator.services.jobs import job_run
from workers.jobs.round import round_run


@shared_task(name="workers.tasks.import_records", acks_late=True)
def import_records(job_id: int) -> None:
    job_run(job_id, import_file)


@shared_task(name="workers.tasks.run_round", acks_late=True)
def run_round(job_id: int) -> None:
    job_run(job_id, round_run)
