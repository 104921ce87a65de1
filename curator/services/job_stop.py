"""People stopping a job from its card, the jobs page or the API.

A round's job is stopped with its round (a round without its job would wait forever), by those
who may start rounds; any other job by those who may start jobs. The body notices at its next
progress report (`workers.runtime.job_progress`) and stops there.
"""

from __future__ import annotations

from django.db import transaction

from curator.models import Job, User
from curator.permissions import Action, can, require
from curator.services.audit import audit
from curator.services.jobs import job_cancel
from curator.services.rounds import round_cancel


def job_stop_action(job: Job) -> Action:
    return Action.START_ROUND if job.round_id else Action.RUN_MODEL_JOB


def job_can_stop(user: User, job: Job) -> bool:
    """Whether to offer `user` a cancel button on this job."""
    return not job.is_finished and can(user, job.project, job_stop_action(job))


def job_stop(*, job: Job, user: User) -> bool:
    """Cancel a queued or running job; False when it had already finished."""
    require(user, job.project, job_stop_action(job))
    if job.round is not None and round_cancel(round_=job.round, user=user):
        return True
    # Not a round's job, or a step that runs after its round already finished.
    with transaction.atomic():
        stopped = job_cancel(job)
        if stopped:
            audit(user, "job.cancel", project=job.project, target=f"job {job.pk}")
    return stopped
