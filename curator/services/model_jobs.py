"""Starting model jobs (LLM pre-label and routing, toxicity, judge); acting on their output."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotation.selectors import waiting_count_forget
from curator import job_kinds
from curator.errors import NotStartable
from curator.models import Job, Project, Record, User
from curator.permissions import Action, require
from curator.services.audit import audit
from curator.services.jobs import job_create, job_dispatch


class JobNotStartable(NotStartable):
    pass


def model_job_start(
    *, project: Project, kind: str, user: User, params: dict[str, Any] | None = None
) -> Job:
    require(user, project, Action.RUN_MODEL_JOB)
    startable = job_kinds.startable()
    if kind not in startable:
        raise JobNotStartable(f"unknown job kind {kind!r}; use one of {', '.join(startable)}")
    params = params or {}
    check_params(project, kind, params)
    with transaction.atomic():
        if Job.objects.filter(
            project=project, kind=kind, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]
        ).exists():
            raise JobNotStartable(f"a {kind} job of this project is already running")
        job = job_create(project=project, kind=kind, params=params, created_by=user)
        audit(user, f"{kind}.start", project=project, target=f"job {job.pk}", params=params)
        job_dispatch(job)
    return job


def record_hold_clear(*, record: Record, user: User) -> None:
    """A curator decides a held record may train after all; later scoring will not re-hold it."""
    require(user, record.project, Action.REVIEW)
    with transaction.atomic():
        Record.objects.filter(pk=record.pk).update(
            held=False, hold_cleared_by=user, hold_cleared_at=timezone.now()
        )
        audit(
            user, "record.hold_clear", project=record.project, target=f"record {record.pk}",
            reason=record.held_reason,
        )  # fmt: skip
        transaction.on_commit(lambda: waiting_count_forget(record.project_id))  # back in queues


def check_params(project: Project, kind: str, params: dict[str, Any]) -> None:
    """Refuse, before queueing, what the job would only fail on later: a refused value is a
    ValidationError about `params.<name>` (400), a project the kind does not fit is
    JobNotStartable (409)."""
    try:
        job_kinds.params_check(project, kind, params)
    except job_kinds.ParamsRefused as error:
        raise ValidationError(
            {f"params.{key}": [message] for key, message in error.errors.items()}
            or {"params": [str(error)]}
        ) from None
    except job_kinds.KindUnfit as error:
        raise JobNotStartable(str(error)) from None
