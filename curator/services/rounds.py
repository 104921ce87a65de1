"""Starting, cancelling and advancing rounds.

A round start only numbers the round, freezes its training snapshot (the labels that exist at
that moment, and only those, in the same transaction) and sends its job; the gates, the training
and everything slow run in the round job. Status changes go through `round_lifecycle`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from curator import job_kinds, round_kinds
from curator.hashing import snapshot_digest
from curator.models import Job, Project, Record, Round, RoundSnapshotItem, User
from curator.permissions import Action, require
from curator.round_kinds import RoundNotStartable
from curator.services import round_lifecycle
from curator.services.audit import audit
from curator.services.jobs import BrokerUnavailable, job_cancel, job_create, job_dispatch
from curator.services.model_jobs import JobNotStartable, check_params

__all__ = [
    "RoundNotStartable",
    "pipeline_advance",
    "round_cancel",
    "round_start",
]


def round_start(*, project: Project, user: User, kind: str | None = None) -> Round:
    """Number a new round of `kind` (default: the first kind that fits the project), freeze its
    training snapshot and send its job.

    Raises RoundNotStartable (a kind that does not fit, a round already running, too little
    data) with nothing written, or BrokerUnavailable when the job could not be sent: the round
    then ends failed with the reason, so it never blocks the next one.
    """
    require(user, project, Action.START_ROUND)
    round_kind = round_kinds.kind_choose(project.task_type, kind)
    pipeline, step_params = _pipeline_of(project)
    round_: Round | None = None
    try:
        with transaction.atomic():
            # Serialises round starts of one project: one round at a time, numbers without gaps.
            Project.objects.select_for_update().get(pk=project.pk)
            if project.rounds.filter(status__in=round_lifecycle.UNFINISHED).exists():
                raise RoundNotStartable("a round of this project is already running")
            rows = round_kind.snapshot_rows(project)
            last = project.rounds.order_by("-number").values_list("number", flat=True).first()
            round_ = Round.objects.create(
                project=project, number=(last or 0) + 1, kind=round_kind.name, created_by=user,
                config={"pipeline": pipeline, "step_params": step_params},
            )  # fmt: skip
            _snapshot_freeze(round_, rows)
            job = job_create(
                project=project, kind=Job.Kind.ROUND, created_by=user, round_id=round_.pk
            )
            audit(user, "round.start", project=project, target=f"round {round_.number}",
                  job=job.pk, kind=round_kind.name)  # fmt: skip
            job_dispatch(job)
    except BrokerUnavailable as error:
        # Sent after the commit: the round exists, queued, with no job on its way.
        if round_ is not None:
            round_lifecycle.round_fail(round_.pk, str(error))
        raise
    return round_


def _snapshot_freeze(round_: Round, rows: list[round_kinds.SnapshotRow]) -> None:
    RoundSnapshotItem.objects.bulk_create(
        [
            RoundSnapshotItem(
                round=round_,
                record_id=row.record_id,
                annotation_id=row.annotation_id,
                label=row.label,
            )
            for row in rows
        ],
        batch_size=2000,
    )
    ids = [row.record_id for row in rows]
    hashes = dict(Record.objects.filter(pk__in=ids).values_list("id", "content_hash"))
    round_.snapshot_sha256 = snapshot_digest([(hashes[row.record_id], row.label) for row in rows])
    round_.save(update_fields=["snapshot_sha256"])


def _pipeline_of(project: Project) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The project's round pipeline, checked now rather than failing halfway through a round."""
    pipeline = list(project.settings_obj.round_pipeline or [])
    params = {
        step: dict(values)
        for step, values in (project.settings_obj.round_step_params or {}).items()
    }
    steps = job_kinds.pipeline_steps()
    for step in pipeline:
        if step not in steps:
            raise RoundNotStartable(f"unknown pipeline step {step!r}; use: {', '.join(steps)}")
        try:
            check_params(project, step, params.get(step, {}))
        except JobNotStartable as error:
            raise RoundNotStartable(f"pipeline step {step}: {error}") from None
        except ValidationError as error:
            refused = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            raise RoundNotStartable(f"pipeline step {step}: {refused}") from None
    return pipeline, params


def pipeline_advance(job: Job) -> None:
    """After one of a round's jobs succeeds: queue the next step, or finish the round.

    Runs where the job's success is recorded, so the chain survives a worker dying between
    steps (the next job is queued with the same commit that closes the previous one).
    """
    if job.round_id is None:
        return
    round_ = Round.objects.select_for_update().filter(pk=job.round_id).first()
    if round_ is None or round_.status != Round.Status.RUNNING:
        return  # cancelled, failed, blocked by a gate, or a job of a finished round
    steps = round_.config.get("pipeline", [])
    position = -1 if job.kind == Job.Kind.ROUND else steps.index(job.kind)
    if position + 1 < len(steps):
        step = steps[position + 1]
        following = job_create(
            project=round_.project, kind=step, created_by=round_.created_by,
            params=round_.config.get("step_params", {}).get(step, {}), round_id=round_.pk,
        )  # fmt: skip
        job_dispatch(following)
        return
    round_lifecycle.round_succeed(round_.pk)


def round_cancel(*, round_: Round, user: User) -> bool:
    """Stop a queued or running round: its unfinished jobs are cancelled, nothing else runs."""
    require(user, round_.project, Action.START_ROUND)
    with transaction.atomic():
        stopped = round_lifecycle.round_stop(round_.pk)
        for job in Job.objects.filter(round=round_).exclude(status__in=Job.FINISHED):
            job_cancel(job)
        if stopped:
            audit(user, "round.cancel", project=round_.project, target=f"round {round_.number}")
    return stopped
