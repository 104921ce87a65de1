"""The project's Models page: versions with their status, round and evaluation; admins promote
and roll back (htmx swaps the table; without JavaScript the forms post and redirect)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from curator import model_version_selectors as selectors
from curator.models import ModelVersion, Project
from curator.permissions import Action, can
from curator.services.model_versions import (
    PromotionRefused,
    model_version_promote,
    model_version_rollback,
)
from curator.views.access import project_for

SUMMARY_METRICS = 4  # numbers shown per version; the round page has the whole evaluation table
# The candidate's measures a version's row shows, with their names on the page.
CANDIDATE_MEASURES = (
    ("rouge_l", "ROUGE-L"),
    ("mean_loglik", "log-likelihood"),
    ("preference_accuracy", "preference accuracy"),
    ("reward_accuracy", "reward accuracy"),
)


def metrics_summary(metrics: dict[str, Any]) -> list[tuple[str, float]]:
    """A one-line summary: the candidate's row of the round's evaluation table (its judged win
    rate first), or else the first few top-level numbers (versions registered otherwise)."""
    rows = (metrics.get("evaluation") or {}).get("rows") or []
    candidate = next((row for row in rows if row.get("variant") == "candidate"), None)
    if candidate is not None:
        baseline = metrics["evaluation"].get("baseline") or "baseline"
        numbers = [(f"win rate vs {baseline}", (candidate.get("win_rate") or {}).get("win_rate"))]
        numbers += [(name, candidate.get(key)) for key, name in CANDIDATE_MEASURES]
        return [(name, value) for name, value in numbers if value is not None][:SUMMARY_METRICS]
    numbers = [
        (key, value)
        for key, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    return numbers[:SUMMARY_METRICS]


def _context(request: HttpRequest, project: Project) -> dict[str, Any]:
    versions = list(selectors.project_versions(project))
    return {
        "project": project,
        "versions": [{"v": v, "summary": metrics_summary(v.metrics)} for v in versions],
        "promoted": {
            role: selectors.promoted_version(project, role) for role in ModelVersion.Role.values
        },
        "base_model": project.setting("llm_model"),
        "can_promote": can(request.user, project, Action.PROMOTE_MODEL),
        "can_export": can(request.user, project, Action.REVIEW),
    }


def _table(request: HttpRequest, project: Project) -> HttpResponse:
    # A boosted form (the round page's Promote button) follows the redirect to the whole page.
    if request.htmx and not request.htmx.boosted:
        return render(request, "curator/_model_versions.html", _context(request, project))
    return redirect("models", slug=project.slug)


@login_required
def models_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug)
    return render(request, "curator/models.html", _context(request, project))


@login_required
@require_POST
def model_promote(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.PROMOTE_MODEL)
    version = get_object_or_404(ModelVersion, project=project, number=number)
    try:
        model_version_promote(version, request.user)
    except PromotionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{version.label} promoted: the next jobs use it.")
    return _table(request, project)


@login_required
@require_POST
def model_rollback(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.PROMOTE_MODEL)
    role = request.POST.get("role") or ModelVersion.Role.LLM
    if role not in ModelVersion.Role.values:
        return HttpResponse("unknown model role", status=400)
    try:
        restored = model_version_rollback(project, request.user, role)
    except PromotionRefused as error:
        messages.error(request, str(error))
    else:
        now = restored.label if restored else "the base model"
        messages.success(request, f"Rolled back: the next jobs use {now}.")
    return _table(request, project)
