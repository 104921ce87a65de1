"""The round job: its gates first, then the stages of the round's kind, then the round's end.

Stages of every round: `gates` (here), then the kind's own (for `classifier`: embed, train,
evaluate, score, save, feedback; workers/jobs/classifier_round.py). The round's status moves only
through curator.services.round_lifecycle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.utils.module_loading import import_string

from curator import round_kinds
from curator.models import Job, Round
from curator.services import round_lifecycle
from curator.services.gates import GateResult, gates_check

# Kept importable from here: the command line, benchmarks and tests reach them by this path.
from workers.jobs.classifier_round import (  # noqa: F401
    fit_and_evaluate,
    round_classifier_identity,
    round_feedback,
    round_reproduce,
)
from workers.runtime import job_progress

logger = logging.getLogger(__name__)


@dataclass
class GatesOutcome:
    """The gates that ran on the round's snapshot; `stopped_by` is the first that failed."""

    results: list[GateResult] = field(default_factory=list)

    @property
    def stopped_by(self) -> GateResult | None:
        return next((result for result in self.results if not result.passed), None)

    def as_metrics(self) -> list[dict[str, Any]]:
        return [vars(result) for result in self.results]


def stage_gates(job: Job, round_: Round) -> GatesOutcome:
    """Agreement, spot-check accuracy and contamination (each a project setting) on the round's
    frozen snapshot. Runs in the worker: MinHash over gold and training texts is too slow for
    the web request."""
    job_progress(job, done=0, total=0, stage="checking gates")
    return GatesOutcome(gates_check(round_))


def round_run(job: Job, **options: Any) -> dict[str, Any]:
    """Job body of a round; returns the round's metrics.

    A redelivered job finds its round already running and runs again (the stages overwrite what
    they wrote); a round that finished meanwhile (cancelled, failed) is left alone. An exception
    is left to the job runtime: a lasting failure fails the job, and with it the round
    (`round_lifecycle.round_job_failed`); a transient one hands the job back for a retry with
    the round running.
    """
    if job.round_id is None:
        raise ValueError(f"job {job.pk} belongs to no round")
    round_ = Round.objects.select_related("project").get(pk=job.round_id)
    if not round_lifecycle.round_begin(round_.pk):
        round_.refresh_from_db(fields=["status"])
        if round_.status != Round.Status.RUNNING:
            logger.info("round %s is %s; its job does nothing", round_.pk, round_.status)
            return {"round_status": round_.status}
    return _round_stages(job, round_, options)


def _round_stages(job: Job, round_: Round, options: dict[str, Any]) -> dict[str, Any]:
    gates = stage_gates(job, round_)
    stopped = gates.stopped_by
    if stopped is not None:
        round_lifecycle.round_block(
            round_.pk, gate=stopped.gate, reason=stopped.reason, gates=gates.as_metrics()
        )
        job_progress(job, done=0, stage=f"stopped by the {stopped.gate} gate")
        return {"blocked_by": stopped.gate, "reason": stopped.reason}
    runner = import_string(round_kinds.kind_named(round_.kind).runner)
    result: round_kinds.RoundResult = runner(job, round_, **options)
    metrics = {**result.metrics, "gates": gates.as_metrics()}
    artifact = {"model_artifact": result.model_artifact, "model_sha256": result.model_sha256}
    # With pipeline steps to come the round stays running; the last step finishes it.
    if (round_.config or {}).get("pipeline"):
        round_lifecycle.round_record(round_.pk, metrics=metrics, **artifact)
    else:
        round_lifecycle.round_succeed(round_.pk, metrics=metrics, **artifact)
    job_progress(job, done=3, stage="done")
    return metrics
