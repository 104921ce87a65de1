"""Small pieces several pages share: keyset paging parameters, starting a model job."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from curator.models import Project
from curator.services.jobs import BrokerUnavailable
from curator.services.model_jobs import JobNotStartable, model_job_start

# PostgreSQL's bigint: a larger id would fail in the database (a 500), not as "no such row".
MAX_ID = 2**63 - 1


def as_id(text: str | None) -> int | None:
    """A row id typed by a client (form field, query parameter); None unless plain digits that
    fit an id column ("abc", "²", "1e3" and 10**30 are all None)."""
    if not text or not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    number = int(text)
    return number if number <= MAX_ID else None


def keyset_param(request: HttpRequest, name: str = "after") -> int:
    """A keyset cursor from the query string (`?after=<id>`); 0 when absent or malformed."""
    return as_id(request.GET.get(name)) or 0


def start_model_job(
    request: HttpRequest, project: Project, kind: str, params: dict[str, Any] | None = None
) -> None:
    """Start a model job from a form, telling the user what happened in a flash message."""
    try:
        job = model_job_start(project=project, kind=kind, user=request.user, params=params)
    except (JobNotStartable, BrokerUnavailable) as error:
        messages.error(request, f"Job not started: {error}")
    except ValidationError as error:
        messages.error(request, f"Job not started: {'; '.join(_field_messages(error))}")
    else:
        messages.success(request, f"{job.get_kind_display()} job {job.pk} started.")


def _field_messages(error: ValidationError) -> list[str]:
    if not hasattr(error, "error_dict"):
        return list(error.messages)
    return [f"{field}: {' '.join(texts)}" for field, texts in error.message_dict.items()]
