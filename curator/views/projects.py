from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation import task_types
from curator import job_kinds, round_kinds, selectors
from curator.importing.parsers import ImportFormatError
from curator.models import Job, Round, Split
from curator.permissions import Action, can, role_of
from curator.services.imports import import_start
from curator.services.jobs import BrokerUnavailable
from curator.services.projects import project_create
from curator.services.rounds import RoundNotStartable, round_cancel, round_start
from curator.views.access import project_for
from curator.views.common import start_model_job
from curator.views.forms import ImportForm, ProjectForm, errors_text
from curator.views.jobs import RECENT as RECENT_JOBS
from curator.views.jobs import job_rows


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = selectors.projects_for(request.user)
    return render(
        request,
        "curator/project_list.html",
        {"projects": projects, "can_create": _can_create_projects(request.user)},
    )


def _can_create_projects(user) -> bool:
    return user.is_staff or user.is_superuser


def parse_label_lines(text: str) -> list[dict[str, str]]:
    """One label per line, "value" or "value | name shown to annotators"."""
    labels = []
    for line in text.splitlines():
        if not line.strip():
            continue
        value, _, name = line.partition("|")
        labels.append({"value": value.strip(), "name": name.strip() or value.strip()})
    return labels


@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    """Staff create projects (as in the API); the creator becomes the project's admin."""
    if not _can_create_projects(request.user):
        raise Http404("no such page")
    form = {"name": "", "task_type": task_types.CLASSIFICATION, "labels": "", "guidelines": ""}
    error = ""
    if request.method == "POST":
        form = {key: request.POST.get(key, "") for key in form}  # shown again as typed
        posted = ProjectForm(request.POST)
        try:
            if not posted.is_valid():
                raise ValidationError(errors_text(posted))
            project = project_create(
                name=posted.cleaned_data["name"],
                task_type=posted.cleaned_data["task_type"],
                labels=parse_label_lines(posted.cleaned_data["labels"]),
                guidelines=posted.cleaned_data["guidelines"],
                created_by=request.user,
            )
        except ValidationError as problem:
            error = " ".join(problem.messages)
        else:
            messages.success(request, f"Project {project.name} created.")
            return redirect("project-detail", slug=project.slug)
    return render(
        request,
        "curator/project_new.html",
        {"form": form, "error": error, "task_types": task_types.choices()},
        status=400 if error else 200,
    )


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug)
    task = task_types.get(project.task_type)
    text_field = project.settings_obj.text_field
    recent = list(selectors.recent_jobs(project, limit=RECENT_JOBS))
    context = {
        "project": project,
        "role": role_of(request.user, project),
        "overview": selectors.project_overview(project),
        # The jobs list polls for new jobs (a worker starts a toxicity job after an import).
        "rows": job_rows(request.user, recent),
        "poll": True,
        "poll_query": {"recent": "1"},
        "rounds": selectors.rounds_of(project)[:20],
        "dashboard": selectors.rounds_dashboard(project),
        "active_round": selectors.active_round(project),
        "can_import": can(request.user, project, Action.IMPORT),
        # No kind fits (e.g. pairwise until LLM rounds land): no button that would always refuse.
        "round_kinds": round_kinds.kinds_for(project.task_type),
        "can_start_round": can(request.user, project, Action.START_ROUND),
        "can_run_model_jobs": can(request.user, project, Action.RUN_MODEL_JOB),
        "can_review": can(request.user, project, Action.REVIEW),
        "can_manage": can(request.user, project, Action.MANAGE),
        # Spot-check counts move the moment a spot check is labeled, which would tell its
        # annotator what it was; the diffs between rounds list people's labels.
        "routing": selectors.routing_stats(project)
        if can(request.user, project, Action.SEE_BLIND)
        else None,
        "can_see_labels": can(request.user, project, Action.SEE_OTHERS_LABELS),
        "can_annotate": can(request.user, project, Action.ANNOTATE),
        "splits": Split.choices,
        # Only the jobs that fit this task type get a button (nothing that always refuses).
        "job_buttons": job_kinds.buttons_for(project.task_type),
        # Auto-accept and spot-check figures mean something only where the LLM pre-labels.
        "routes_llm_labels": job_kinds.get(Job.Kind.PRELABEL).fits(project.task_type),
        "import_fields": task.payload_fields(text_field),
        "import_example": json.dumps(task.import_example(project.labels, text_field)),
    }
    return render(request, "curator/project_detail.html", context)


@login_required
@require_POST
def import_upload(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.IMPORT)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, errors_text(form))
        return redirect("project-detail", slug=slug)
    upload = form.cleaned_data["file"]
    try:
        job = import_start(
            project=project, upload=upload, split=form.cleaned_data["split"], user=request.user
        )
    except ImportFormatError as error:
        messages.error(request, f"Import refused: {error.problem}")
    except BrokerUnavailable as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Importing {upload.name} (job {job.pk}).")
    return redirect("project-detail", slug=slug)


@login_required
@require_POST
def model_job_create(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.RUN_MODEL_JOB)
    start_model_job(request, project, request.POST.get("kind", ""))
    return redirect("project-detail", slug=slug)


@login_required
@require_POST
def round_create(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.START_ROUND)
    try:
        round_ = round_start(
            project=project, user=request.user, kind=request.POST.get("kind") or None
        )
    except (RoundNotStartable, BrokerUnavailable) as error:
        messages.error(request, f"Round not started: {error}")
        return redirect("project-detail", slug=slug)
    # Its gates run first in the round job; the round page says if one stops it.
    messages.success(request, f"Round {round_.number} ({round_.kind}) started.")
    return redirect("round-detail", slug=slug, number=round_.number)


@login_required
@require_POST
def round_cancel_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.START_ROUND)
    round_ = get_object_or_404(Round, project=project, number=number)
    if round_cancel(round_=round_, user=request.user):
        messages.success(request, f"Round {number} cancelled.")
    else:
        messages.error(request, f"Round {number} is {round_.status}; nothing to cancel.")
    return redirect("round-detail", slug=slug, number=number)
