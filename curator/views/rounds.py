from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from curator import round_kinds, selectors
from curator.models import Job, Round
from curator.permissions import Action, can, metrics_shown
from curator.views.access import project_for
from curator.views.common import keyset_param
from curator.views.llm_rounds import llm_round_panel


@login_required
def round_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    project = project_for(request.user, slug)
    round_ = get_object_or_404(Round, project=project, number=number)
    # What this viewer may read of the metrics (an annotator: no gold samples, no traceback);
    # the page only shows the instance, it is never saved.
    round_.metrics = metrics_shown(request.user, project, round_.metrics)
    # The snapshot lists the labels people gave: not for annotators (independent relabels).
    can_see_labels = can(request.user, project, Action.SEE_OTHERS_LABELS)
    items = (
        selectors.round_snapshot_page(round_, after_id=keyset_param(request))
        if can_see_labels
        else []
    )
    job = round_.jobs.filter(kind=Job.Kind.ROUND).first()
    kind = round_kinds.KINDS.get(round_.kind)
    context = {
        "project": project,
        "round": round_,
        "job": job,
        "llm": llm_round_panel(round_, job, request.user) if kind and kind.trains_llm else None,
        "step_jobs": round_.jobs.exclude(kind=Job.Kind.ROUND).order_by("id"),
        "can_start_round": can(request.user, project, Action.START_ROUND),
        "stages": _stages_of(round_),
        # The round job records its gates; rounds from before it kept them in the config.
        "gates": round_.metrics.get("gates") or round_.config.get("gates") or [],
        "confusion_rows": _confusion_rows(round_.metrics.get("confusion")),
        "items": items,
        "can_see_labels": can_see_labels,
        "next_after": items[-1]["record_id"] if len(items) == 100 else None,
        "text_field": project.settings_obj.text_field,
    }
    if request.htmx and request.GET.get("fragment") == "status":
        return render(request, "curator/_round_status.html", context)
    return render(request, "curator/round_detail.html", context)


def _stages_of(round_: Round) -> list[str]:
    kind = round_kinds.KINDS.get(round_.kind)
    return ["gates", *kind.stages] if kind else []


def _confusion_rows(confusion: dict | None) -> list[dict]:
    if not confusion:
        return []
    return [
        {"label": label, "counts": counts}
        for label, counts in zip(confusion["labels"], confusion["matrix"], strict=True)
    ]
