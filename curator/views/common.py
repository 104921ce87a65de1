"""Small pieces several pages share: keyset paging parameters, starting a model job."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest

from curator.models import Project
from curator.services.jobs import BrokerUnavailable
from curator.services.model_jobs import JobNotStartable, model_job_start


def keyset_param(request: HttpRequest, name: str = "after") -> int:
    """A keyset cursor from the query string (`?after=<id>`); 0 when absent or malformed."""
    try:
        return max(0, int(request.GET.get(name) or 0))
    except ValueError:
        return 0


def start_model_job(
    request: HttpRequest, project: Project, kind: str, params: dict[str, Any] | None = None
) -> None:
    """Start a model job from a form, telling the user what happened in a flash message."""
    try:
        job = model_job_start(project=project, kind=kind, user=request.user, params=params)
    except (JobNotStartable, BrokerUnavailable) as error:
        messages.error(request, f"Job not started: {error}")
    else:
        messages.success(request, f"{job.get_kind_display()} job {job.pk} started.")
