"""Starting rounds and fixing their training snapshot.

The snapshot is taken when the admin starts the round, inside the same transaction that numbers
it: the labels that exist at that moment, and only those, are what the round trains on.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from annotation import task_types
from annotation.labels import training_labels
from curator.hashing import snapshot_digest
from curator.models import (
    Job,
    Project,
    Record,
    Round,
    RoundSnapshotItem,
    User,
)
from curator.permissions import Action, require
from curator.services import gates
from curator.services.audit import audit
from curator.services.jobs import NotStartable, job_create, job_dispatch


class RoundNotStartable(NotStartable):
    pass


def round_start(*, project: Project, user: User) -> Round:
    """Number a new round, freeze its training snapshot and queue its job."""
    require(user, project, Action.START_ROUND)
    if not task_types.spec(project.task_type).trainable:
        raise RoundNotStartable(
            f"rounds train a classifier; a {project.get_task_type_display().lower()} project "
            "exports its labels instead"
        )
    with transaction.atomic():
        # Serialises round starts of one project: one round at a time, numbers without gaps.
        Project.objects.select_for_update().get(pk=project.pk)
        if project.rounds.filter(status__in=[Round.Status.QUEUED, Round.Status.RUNNING]).exists():
            raise RoundNotStartable("a round of this project is already running")
        labels = training_labels(project)
        distinct = {label for _, label in labels.values()}
        if len(distinct) < 2:
            raise RoundNotStartable(
                "training needs labeled records of at least two different labels; "
                f"this project has {len(labels)} labeled record(s) of {len(distinct)} label(s)"
            )
        last = project.rounds.order_by("-number").values_list("number", flat=True).first() or 0
        pipeline, step_params = _pipeline_of(project)
        results = [
            result
            for result in (
                gates.agreement_gate(project, project.setting("gate_min_agreement")),
                gates.spot_check_gate(project, project.setting("gate_min_spot_check_accuracy")),
                gates.contamination_gate(
                    project, list(labels), bool(project.setting("gate_contamination"))
                ),
            )
            if result is not None
        ]
        config = {
            "pipeline": pipeline,
            "step_params": step_params,
            "gates": [vars(result) for result in results],
        }
        failed = [result for result in results if not result.passed]
        if failed:
            round_ = Round.objects.create(
                project=project, number=last + 1, created_by=user, config=config,
                status=Round.Status.BLOCKED, finished_at=timezone.now(),
                metrics={"blocked_by": failed[0].gate, "reason": failed[0].reason},
            )  # fmt: skip
            audit(user, "round.blocked", project=project, target=f"round {round_.number}",
                  gate=failed[0].gate, reason=failed[0].reason)  # fmt: skip
            return round_
        round_ = Round.objects.create(
            project=project, number=last + 1, created_by=user, config=config
        )
        RoundSnapshotItem.objects.bulk_create(
            [
                RoundSnapshotItem(
                    round=round_, record_id=record_id, annotation_id=annotation_id, label=label
                )
                for record_id, (annotation_id, label) in labels.items()
            ],
            batch_size=2000,
        )
        hashes = dict(Record.objects.filter(pk__in=list(labels)).values_list("id", "content_hash"))
        round_.snapshot_sha256 = snapshot_digest(
            [(hashes[record_id], label) for record_id, (_, label) in labels.items()]
        )
        round_.save(update_fields=["snapshot_sha256"])
        job = job_create(project=project, kind=Job.Kind.ROUND, created_by=user, round_id=round_.pk)
        audit(user, "round.start", project=project, target=f"round {round_.number}", job=job.pk)
        job_dispatch(job)
    return round_


PIPELINE_STEPS = (Job.Kind.NOISE, Job.Kind.PRELABEL, Job.Kind.GENERATE, Job.Kind.FILTER,
                  Job.Kind.JUDGE)  # fmt: skip


def _pipeline_of(project: Project) -> tuple[list[str], dict[str, dict]]:
    """The project's round pipeline, checked now rather than failing halfway through a round."""
    from curator.services.model_jobs import JobNotStartable, check_params

    pipeline = list(project.setting("round_pipeline") or [])
    params = dict(project.setting("round_step_params") or {})
    for step in pipeline:
        if step not in PIPELINE_STEPS:
            raise RoundNotStartable(
                f"unknown pipeline step {step!r}; use: {', '.join(PIPELINE_STEPS)}"
            )
        try:
            check_params(project, step, params.get(step, {}))
        except JobNotStartable as error:
            raise RoundNotStartable(f"pipeline step {step}: {error}") from None
    return pipeline, params


def pipeline_advance(job: Job) -> None:
    """After one of a round's jobs succeeds: queue the next step, or finish the round.

    Runs where the job's success is recorded, so the chain survives a worker dying between
    steps (the next job is queued with the same commit that closes the previous one).
    """
    round_ = Round.objects.select_for_update().filter(pk=job.round_id).first()
    if round_ is None or round_.status != Round.Status.RUNNING:
        return  # cancelled, failed, or a job of a finished round
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
    Round.objects.filter(pk=round_.pk).update(
        status=Round.Status.SUCCEEDED, finished_at=timezone.now()
    )


def pipeline_failed(job: Job) -> None:
    Round.objects.filter(pk=job.round_id, status=Round.Status.RUNNING).update(
        status=Round.Status.FAILED, finished_at=timezone.now()
    )


def round_cancel(*, round_: Round, user: User) -> bool:
    """Stop a queued or running round: its unfinished jobs are cancelled, nothing else runs."""
    require(user, round_.project, Action.START_ROUND)
    from curator.services.jobs import job_cancel

    with transaction.atomic():
        stopped = Round.objects.filter(
            pk=round_.pk, status__in=[Round.Status.QUEUED, Round.Status.RUNNING]
        ).update(status=Round.Status.CANCELLED, finished_at=timezone.now())
        for job in Job.objects.filter(round=round_).exclude(status__in=Job.FINISHED):
            job_cancel(job)
        if stopped:
            audit(user, "round.cancel", project=round_.project, target=f"round {round_.number}")
    return bool(stopped)
