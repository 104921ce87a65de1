"""Jobs that fan out over records: plan the records, process them in chunks, finalise once.

A kind's runner is a `FannedOut` of three functions. `plan(job)` runs once, records what every
chunk must share (prompts, few-shot examples, priors) in job.params, and returns the record ids.
`process(job, ids)` must be idempotent: a chunk may run again after its worker died.
`finalize(job)` computes the job's metrics after the last chunk.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from curator.models import Job
from curator.services.jobs import job_fail, job_fan_out
from workers.runtime import (
    DEFERRED,
    TRANSIENT_ERRORS,
    Deferred,
    chunk_claim,
    chunk_complete,
    chunk_fail,
    chunk_held,
    chunk_release,
    job_succeed,
    runner_of,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FannedOut:
    plan: Callable[[Job], list[int]]
    process: Callable[[Job, list[int]], None]
    finalize: Callable[[Job], dict[str, Any]]
    chunk_size: int = 64

    def __call__(self, job: Job) -> dict[str, Any] | Deferred:
        """The job body of the parent task: plan, then hand the records to chunks."""
        record_ids = self.plan(job)
        job.refresh_from_db(fields=["params"])
        if not record_ids:
            return self.finalize(job)
        chunk_size = int(job.params.get("chunk_size") or self.chunk_size)
        job_fan_out(job, record_ids, chunk_size)
        return DEFERRED


def run_chunk(chunk_id: int) -> None:
    chunk = chunk_claim(chunk_id)
    if chunk is None:
        logger.info("chunk %s is done, held by another worker, or its job stopped", chunk_id)
        return
    job = chunk.job
    spec = runner_of(job.kind)
    assert isinstance(spec, FannedOut), f"{job.kind} jobs do not fan out"
    started = time.monotonic()
    try:
        with chunk_held(chunk):
            spec.process(job, list(chunk.record_ids))
    except TRANSIENT_ERRORS:
        chunk_release(chunk)  # Celery retries the task, which claims the chunk again
        raise
    except Exception as error:
        logger.exception("chunk %s of job %s failed", chunk.index, job.pk)
        detail = str(error) or error.__class__.__name__
        if not isinstance(error, ValueError):
            detail = f"{detail}\n\n{traceback.format_exc(limit=5)}"
        chunk_fail(chunk, detail)
        return
    if chunk_complete(chunk, time.monotonic() - started):
        job.refresh_from_db()
        try:
            job_succeed(job, metrics=spec.finalize(job))
        except Exception as error:
            logger.exception("finalising job %s failed", job.pk)
            job_fail(job.pk, f"finalising failed: {error}")
