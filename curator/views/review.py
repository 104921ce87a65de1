"""Curators' review: agreement, annotators' gold accuracy, disagreements, flags."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation import selectors, task_types
from annotation.models import Annotation
from annotation.services.review import adjudicate, record_send_back
from curator.models import Record
from curator.permissions import Action
from curator.views.access import project_for
from curator.views.common import keyset_param
from curator.views.forms import AdjudicateForm, errors_text


@login_required
def review_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.REVIEW)
    after = keyset_param(request)
    items = selectors.disagreements(project, after_id=after)
    field = project.settings_obj.text_field
    task = task_types.get(project.task_type)
    for item in items:
        item.text = task_types.text_of(item.record.payload, field) or task_types.text_of(
            item.record.payload, "prompt"
        )
        for label in item.labels:
            label["shown"] = task.describe(project.labels, label["value"])
    context = {
        "project": project,
        "agreement": selectors.project_agreement(project),
        "annotators": selectors.annotator_figures(project),
        "items": items,
        "next_after": items[-1].record.pk if len(items) >= 25 else None,
        "flags": selectors.open_flags(project),
        "misses": selectors.spot_check_misses(project),
        # A curator settles with one of these, or by adopting one of the labels.
        "settle_field": task.form_field,
        "settle_options": task.settle_options(project.labels),
    }
    return render(request, "curator/review.html", context)


@login_required
@require_POST
def adjudicate_record(request: HttpRequest, slug: str, record_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.REVIEW)
    record = get_object_or_404(Record, pk=record_id, project=project)
    form = AdjudicateForm(request.POST, task_type=project.task_type)
    if not form.is_valid():
        messages.error(request, f"Record {record.pk} not settled: {errors_text(form)}")
        return redirect("review", slug=slug)
    adopt = None
    if form.cleaned_data["adopt"] is not None:
        adopt = get_object_or_404(Annotation, pk=form.cleaned_data["adopt"], record=record)
    try:
        adjudicate(record=record, user=request.user, value=form.cleaned_data["value"], adopt=adopt)
    except ValidationError as error:
        messages.error(request, f"Record {record.pk} not settled: {' '.join(error.messages)}")
    else:
        messages.success(request, f"Record {record.pk} settled.")
    return redirect("review", slug=slug)


@login_required
@require_POST
def send_back(request: HttpRequest, slug: str, record_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.REVIEW)
    record = get_object_or_404(Record, pk=record_id, project=project)
    record_send_back(record=record, user=request.user)
    messages.success(request, f"Record {record.pk} is back in the queue, first in line.")
    return redirect("review", slug=slug)
