from typing import Any

from django import template

from curator.models import Job
from curator.models.records import payload_text
from curator.permissions import job_error_shown

register = template.Library()


@register.filter
def get_text(payload: Any, field: str = "text") -> str:
    """The display text of a record payload; autoescaped like any other variable."""
    return payload_text(payload, field)


@register.filter
def get_item(mapping: dict, key: Any) -> Any:
    return mapping.get(key, "") if isinstance(mapping, dict) else ""


@register.simple_tag(takes_context=True)
def job_error(context: template.Context, job: Job) -> str:
    """A failed job's error as the page's viewer may read it (permissions decide)."""
    request = context.get("request")
    return job_error_shown(getattr(request, "user", None), job.project, job.error)
