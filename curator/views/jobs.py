from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from curator.models import Job
from curator.views.access import project_for


@login_required
def job_card(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    """The job's status card; htmx polls it until the job finishes."""
    project = project_for(request.user, slug)
    job = get_object_or_404(Job, pk=job_id, project=project)
    return render(request, "curator/_job_card.html", {"job": job, "project": project})
