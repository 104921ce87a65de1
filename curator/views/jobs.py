"""Jobs people watch and stop: the card (polled while it runs), the project's jobs page with
its filters (polled, so jobs a worker starts appear), cancelling, and a job's records."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from curator import job_kinds, selectors
from curator.models import Job, Project
from curator.permissions import Action
from curator.services.job_stop import job_can_stop, job_stop
from curator.views.access import project_for
from curator.views.common import keyset_param

PAGE = 25
RECENT = 10  # jobs on the project page


def job_rows(user, jobs: list[Job]) -> list[dict[str, Any]]:
    """Each job with whether this user may stop it (the card's cancel button)."""
    return [{"job": job, "can_stop": job_can_stop(user, job)} for job in jobs]


@login_required
def job_card(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    """The job's status card; htmx polls it until the job finishes."""
    project = project_for(request.user, slug)
    job = get_object_or_404(Job.objects.select_related("round"), pk=job_id, project=project)
    return render(
        request,
        "curator/_job_card.html",
        {"job": job, "project": project, "can_stop": job_can_stop(request.user, job)},
    )


def _filters(request: HttpRequest) -> dict[str, str]:
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", "")
    return {
        "kind": kind if job_kinds.exists(kind) else "",
        "status": status if status in Job.Status.values else "",
    }


@login_required
def jobs_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Every job of the project, newest first, by kind and status. With `recent`, the project
    page's short list; an htmx request gets the list alone (its poll)."""
    project = project_for(request.user, slug)
    filters = _filters(request)
    before = keyset_param(request, "before")
    recent = bool(request.GET.get("recent"))
    size = RECENT if recent else PAGE
    jobs = list(selectors.jobs_of(project, before=before, **filters)[: size + 1])
    more = not recent and len(jobs) > size
    jobs = jobs[:size]
    query = {key: value for key, value in filters.items() if value}
    context = {
        "project": project,
        "rows": job_rows(request.user, jobs),
        "filters": filters,
        "kinds": job_kinds.choices(),
        "statuses": Job.Status.choices,
        # Only the first page polls: new jobs appear on top of it.
        "poll": not before,
        "poll_query": {**query, **({"recent": "1"} if recent else {})},
        "next_before": jobs[-1].pk if more else None,
        "query": query,
    }
    if request.htmx:
        return render(request, "curator/_job_list.html", context)
    return render(request, "curator/jobs.html", context)


@login_required
@require_POST
def job_cancel(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = project_for(request.user, slug)
    job = get_object_or_404(Job.objects.select_related("round"), pk=job_id, project=project)
    if job_stop(job=job, user=request.user):
        messages.success(request, f"{job.get_kind_display()} job {job.pk} cancelled.")
    else:
        job.refresh_from_db()
        messages.error(request, f"Job {job.pk} is {job.status}; nothing to cancel.")
    return redirect(_back(request, project))


def _back(request: HttpRequest, project: Project) -> str:
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, {request.get_host()}):
        return back
    return reverse("project-jobs", args=[project.slug])


@login_required
def job_records(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    """The records a job imported, generated, scored, routed or flagged, keyset-paged."""
    project = project_for(request.user, slug, Action.REVIEW)
    job = get_object_or_404(Job, pk=job_id, project=project)
    after = keyset_param(request)
    records = list(selectors.job_records(job, after=after)[: PAGE + 1])
    return render(
        request,
        "curator/job_records.html",
        {
            "project": project,
            "job": job,
            "records": records[:PAGE],
            "next_after": records[PAGE - 1].pk if len(records) > PAGE else None,
            "text_field": project.settings_obj.text_field,
        },
    )
