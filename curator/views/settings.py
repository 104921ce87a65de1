from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from curator.algorithms.training_config import FORM_FIELDS as TRAINING_FIELDS
from curator.algorithms.training_config import TrainingConfig, settings_from_form
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
        changes["routing_require_agreement"] = "routing_require_agreement" in request.POST
        posted_training = _posted_training(request)
        try:
            if posted_training:
                # One field per hyper-parameter, merged into the stored `llm_training` document,
                # which ProjectSettings then checks as a whole like any other change.
                stored = (project.settings or {}).get("llm_training") or {}
                try:
                    changes["llm_training"] = settings_from_form(stored, posted_training)
                except ValueError as error:
                    raise ValidationError({"llm_training": str(error)}) from error
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
        values["llm_training"] = _posted_training(request)
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
            "training_defaults": TrainingConfig().as_dict(),
        },
        status=400 if errors else 200,
    )


def _posted_training(request: HttpRequest) -> dict[str, str]:
    return {
        name: request.POST[f"llm_training.{name}"]
        for name in TRAINING_FIELDS
        if f"llm_training.{name}" in request.POST
    }
