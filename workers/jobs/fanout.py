"""Jobs that fan out over records: plan the records, process them in chunks, finalise once.

A kind registers three functions. `plan(job)` runs once, records what every chunk must share
(prompts, few-shot examples, priors) in job.params, and returns the record ids. `process(job,
ids)` must be idempotent: a chunk may run twice after a worker dies. `finalize(job)` computes
the job's metrics after the last chunk.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from curator.models import Job
from curator.services.jobs import (
    DEFERRED,
    TRANSIENT_ERRORS,
    Deferred,
    chunk_claim,
    chunk_complete,
    chunk_fail,
    job_fan_out,
    job_succeed,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FannedOutKind:
    plan: Callable[[Job], list[int]]
    process: Callable[[Job, list[int]], None]
    finalize: Callable[[Job], dict[str, Any]]
    chunk_size: int = 64


REGISTRY: dict[str, FannedOutKind] = {}


def register(kind: str, spec: FannedOutKind) -> None:
    REGISTRY[kind] = spec


def _kind(job: Job) -> FannedOutKind:
    # Importing the job modules fills the registry.
    from workers.jobs import generate, judge, prelabel, toxicity  # noqa: F401

    return REGISTRY[job.kind]


def plan_and_fan_out(job: Job) -> dict[str, Any] | Deferred:
    """Job body of the parent task."""
    spec = _kind(job)
    record_ids = spec.plan(job)
    job.refresh_from_db(fields=["params"])
    if not record_ids:
        return spec.finalize(job)
    chunk_size = int(job.params.get("chunk_size") or spec.chunk_size)
    job_fan_out(job, record_ids, chunk_size)
    return DEFERRED


def run_chunk(chunk_id: int) -> None:
    chunk = chunk_claim(chunk_id)
    if chunk is None:
        logger.info("chunk %s is done or its job stopped; nothing to do", chunk_id)
        return
    job = chunk.job
    spec = _kind(job)
    started = time.monotonic()
    try:
        spec.process(job, list(chunk.record_ids))
    except TRANSIENT_ERRORS:
        raise  # Celery retries the chunk; it is still marked running, which a retry may claim
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
            chunk_fail(chunk, f"finalising failed: {error}")
