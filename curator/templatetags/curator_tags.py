from typing import Any
from urllib.parse import urlencode

from django import template

from annotation import task_types
from curator.models import Job, Project
from curator.models.records import payload_text
from curator.permissions import job_error_shown
from curator.views.job_links import JobLink
from curator.views.job_links import job_links as links_of

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


@register.filter
def content_text(payload: Any, project: Project) -> str:
    """Every field a person reads in a record of this project's task type."""
    return task_types.get(project.task_type).content_text(payload, project.settings_obj.text_field)


@register.filter
def duration(seconds: float | None) -> str:
    """7 min 51 s, 2 h 5 min, 12 s: a job's elapsed time or what is left of it."""
    if seconds is None:
        return "\u2013"  # an en dash, as the tables show a missing figure
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


@register.filter
def rate(per_second: float | None) -> str:
    """Items a second, or a minute when slower than one a second."""
    if not per_second:
        return ""
    if per_second >= 1:
        return f"{per_second:,.1f} items/s"
    return f"{per_second * 60:,.1f} items/min"


@register.filter
def job_links(job: Job) -> list[JobLink]:
    return links_of(job)


@register.filter
def urlencode_dict(values: dict[str, str]) -> str:
    return urlencode(values)
