"""A record's history and lineage; what changed between two rounds."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from annotation import task_types
from curator import lineage
from curator.models import Record, Round
from curator.permissions import Action
from curator.views.access import project_for


@login_required
def record_page(request: HttpRequest, slug: str, record_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.REVIEW)
    record = get_object_or_404(Record.objects.select_related("created_by_job"), pk=record_id,
                               project=project)  # fmt: skip
    history = lineage.record_history(record)
    related = {link.record_id for link in history.ancestors + history.descendants}
    field = project.settings_obj.text_field
    texts = {
        pk: task_types.text_of(payload, field) or task_types.text_of(payload, "prompt")
        for pk, payload in Record.objects.filter(pk__in=related).values_list("pk", "payload")
    }
    for annotation in history.annotations:
        annotation.shown = task_types.describe(project.task_type, project.labels, annotation.value)
    return render(
        request,
        "curator/record.html",
        {"project": project, "texts": texts, "field": field, **vars(history)},
    )


@login_required
def round_diff(request: HttpRequest, slug: str, before: int, after: int) -> HttpResponse:
    # The labels that changed are people's labels: curators and admins only.
    project = project_for(request.user, slug, Action.SEE_OTHERS_LABELS)
    first = get_object_or_404(Round, project=project, number=before)
    second = get_object_or_404(Round, project=project, number=after)
    return render(
        request,
        "curator/round_diff.html",
        {"project": project, "before": first, "after": second,
         "diff": lineage.round_diff(first, second)},
    )  # fmt: skip
