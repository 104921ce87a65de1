"""Admins edit a project's name, description, guidelines and label set after creation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotation import task_types
from curator.permissions import Action
from curator.services.projects import LabelRemovalUnconfirmed, project_update
from curator.views.access import project_for
from curator.views.forms import ProjectEditForm, errors_text
from curator.views.projects import parse_label_lines


def label_lines(labels: list[dict[str, str]]) -> str:
    """The label set as the form edits it: "value | name", or "value" where they are equal."""
    return "\n".join(
        label["value"] if label["name"] == label["value"] else f"{label['value']} | {label['name']}"
        for label in labels
    )


@login_required
def project_edit(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.MANAGE)
    form = {
        "name": project.name,
        "description": project.description,
        "guidelines": project.guidelines,
        "labels": label_lines(project.labels),
    }
    error = ""
    removal: LabelRemovalUnconfirmed | None = None
    if request.method == "POST":
        form = {key: request.POST.get(key, "") for key in form}  # shown again as typed
        posted = ProjectEditForm(request.POST)
        try:
            if not posted.is_valid():
                raise ValidationError(errors_text(posted))
            data = posted.cleaned_data
            project_update(
                project=project,
                user=request.user,
                name=data["name"],
                description=data["description"],
                guidelines=data["guidelines"],
                labels=parse_label_lines(data["labels"]),
                confirm_removal=data["confirm_removal"],
            )
        except LabelRemovalUnconfirmed as unconfirmed:
            removal = unconfirmed
        except ValidationError as problem:
            error = " ".join(problem.messages)
        else:
            messages.success(request, "Project saved.")
            return redirect("project-detail", slug=slug)
    return render(
        request,
        "curator/project_edit.html",
        {
            "project": project,
            "form": form,
            "error": error,
            "removal": removal,
            "uses_labels": task_types.get(project.task_type).uses_labels,
        },
        status=400 if error else (409 if removal else 200),
    )
