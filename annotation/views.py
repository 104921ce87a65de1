"""The labeling loop: one page, then htmx fragments for every record after the first."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation.models import Assignment
from annotation.services.annotations import annotation_submit
from annotation.services.assignment import assignment_skip, next_assignment
from curator import selectors
from curator.models import Project
from curator.permissions import Action
from curator.views.access import project_for


def _next_card(request: HttpRequest, project: Project, error: str = "") -> HttpResponse:
    """After a label or a skip: the next card for htmx, the page for a plain form post."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("annotate", slug=project.slug)
    return _card(request, project, error)


def _card(request: HttpRequest, project: Project, error: str = "") -> HttpResponse:
    assignment = next_assignment(project, request.user)
    context = {
        "project": project,
        "assignment": assignment,
        "text": assignment.record.text(project.setting("text_field")) if assignment else "",
        "stats": selectors.annotator_stats(project, request.user),
        "error": error,
    }
    return render(request, "annotation/_record_card.html", context)


@login_required
def annotate(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.ANNOTATE)
    return render(request, "annotation/annotate.html", {"project": project})


@login_required
def next_record(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.ANNOTATE)
    return _card(request, project)


def _own_assignment(request: HttpRequest, project: Project, assignment_id: int) -> Assignment:
    return get_object_or_404(Assignment, pk=assignment_id, project=project, annotator=request.user)


@login_required
@require_POST
def submit(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.ANNOTATE)
    assignment = _own_assignment(request, project, assignment_id)
    try:
        seconds = float(request.POST.get("seconds") or 0) or None
    except ValueError:
        seconds = None
    try:
        annotation_submit(
            assignment=assignment,
            user=request.user,
            value=request.POST.get("label"),
            seconds_spent=seconds,
        )
    except ValidationError as error:
        return _next_card(request, project, error=" ".join(error.messages))
    return _next_card(request, project)


@login_required
@require_POST
def skip(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.ANNOTATE)
    assignment = _own_assignment(request, project, assignment_id)
    assignment_skip(assignment, reason=request.POST.get("reason", ""))
    return _next_card(request, project)
