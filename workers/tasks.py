"""Celery tasks: thin wrappers that hand a job (or chunk) id to the job runtime.

One task runs a job of any kind (the runtime looks its runner up in `curator.job_kinds`), one
runs any chunk of a fanned-out job, and beat runs the sweep. Each task acknowledges late, so a
worker killed mid-job leaves its message unacknowledged; the broker hands it out again only after
its visibility timeout (hours), while the sweep recovers the job after its lease (minutes). Either
way the claim lets exactly one delivery run.
"""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task
from django.conf import settings

from curator.services.jobs import jobs_sweep
from workers.jobs.fanout import run_chunk as chunk_run
from workers.runtime import TRANSIENT_ERRORS, job_run

# Transient failures are retried with backoff; a job never runs past its hard time limit.
RETRY = {
    "acks_late": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 5,
    "retry_kwargs": {"max_retries": 5},
    "time_limit": settings.CURATOR_TASK_TIME_LIMIT,
}


def _run_job(job_id: int) -> None:
    job_run(job_id)


run_job = shared_task(name="workers.tasks.run_job", **RETRY)(_run_job)

# The per-kind task names of earlier releases, so that messages queued under them still run.
for _legacy_name in (
    "workers.tasks.import_records",
    "workers.tasks.run_round",
    "workers.tasks.run_fanned_out",
    "workers.tasks.run_filters",
    "workers.tasks.run_noise",
):
    shared_task(name=_legacy_name, **RETRY)(_run_job)


@shared_task(name="workers.tasks.run_chunk", **RETRY)
def run_chunk(chunk_id: int) -> None:
    chunk_run(chunk_id)


@shared_task(name="workers.tasks.sweep_jobs", ignore_result=True)
def sweep_jobs() -> dict[str, int]:
    return asdict(jobs_sweep())
