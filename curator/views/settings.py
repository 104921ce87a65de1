from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from curator.models.project_settings import (
    CONSENSUS,
    DEFAULTS,
    EDITABLE,
    SAMPLING,
    TRAINERS,
)
from curator.permissions import Action
from curator.services.project_settings import project_settings_update
from curator.views.access import project_for


@login_required
def project_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.MANAGE)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        # A field the form did not send keeps its value (an older form, a partial post).
        changes: dict[str, Any] = {
            key: request.POST[key] for key in EDITABLE if key in request.POST
        }
        changes["score_toxicity_on_import"] = "score_toxicity_on_import" in request.POST
        try:
            project_settings_update(project=project, user=request.user, changes=changes)
        except ValidationError as error:
            errors = error.message_dict
        else:
            messages.success(request, "Settings saved.")
            return redirect("project-settings", slug=slug)
    try:
        values = project.settings_obj.as_dict()
    except ValidationError as error:  # a stored value no longer reads: show it, to be fixed
        values = {**DEFAULTS, **(project.settings or {})}
        errors = {**error.message_dict, **errors}
    if request.method == "POST":
        values.update({key: request.POST.get(key, "") for key in EDITABLE})
    return render(
        request,
        "curator/project_settings.html",
        {
            "project": project,
            "values": values,
            "errors": errors,
            "sampling": SAMPLING,
            "consensus": CONSENSUS,
            "trainers": TRAINERS,
        },
        status=400 if errors else 200,
    )
