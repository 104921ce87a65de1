"""Curators' data page: distribution, generation batches and their review, filter runs, noise."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from curator import curation_selectors, job_kinds, selectors
from curator.algorithms.curation import DEFAULT_FILTERS, ORDER
from curator.job_kinds import generate
from curator.json_values import strict_json_loads
from curator.models import Document, FilterDecision, Job, Record, ReviewState
from curator.models.records import QUALITY_KIND
from curator.permissions import Action, can
from curator.services import curation
from curator.services.documents import document_add
from curator.views.access import project_for
from curator.views.common import keyset_param, start_model_job
from curator.views.forms import (
    BulkDecisionForm,
    GenerateForm,
    ItemDecisionForm,
    SelfRewardForm,
    errors_text,
)

PAGE = 50


@login_required
def data_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.REVIEW)
    jobs = Job.objects.filter(project=project).order_by("-id")
    batches = jobs.filter(kind__in=job_kinds.review_batches())[:20]
    context = {
        "project": project,
        "distribution": curation_selectors.distribution(project),
        "batches": [(job, curation_selectors.batch_stats(job)) for job in batches],
        "filter_runs": jobs.filter(kind=Job.Kind.FILTER)[:20],
        "noise_runs": jobs.filter(kind=Job.Kind.NOISE)[:5],
        "noise": curation_selectors.noise_report(project),
        # The generators that work for the project's task type (instruction items for
        # correction projects, labeled texts for label sets).
        "generators": generate.generators(project),
        # Offer only the batch jobs that fit the project (no form that always refuses).
        "can_generate": job_kinds.get(Job.Kind.GENERATE).fits(project.task_type),
        "can_self_reward": job_kinds.get(Job.Kind.SELF_REWARD).fits(project.task_type),
        "can_find_noise": job_kinds.get(Job.Kind.NOISE).fits(project.task_type),
        "filter_order": ORDER,
        "default_filters": json.dumps(DEFAULT_FILTERS, indent=1),
        "can_run": can(request.user, project, Action.RUN_MODEL_JOB),
        "documents": Document.objects.filter(project=project).order_by("-id")[:50],
    }  # fmt: skip
    return render(request, "curator/data.html", context)


@login_required
@require_POST
def generate_start(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.RUN_MODEL_JOB)
    form = GenerateForm(request.POST, label_values=project.label_values)
    if not form.is_valid():
        messages.error(request, f"Not started: {errors_text(form)}")
        return redirect("data", slug=slug)
    params: dict[str, Any] = {
        "generator": form.cleaned_data["generator"],
        "count": form.cleaned_data["count"] or 20,
    }
    if form.cleaned_data["labels"]:
        params["labels"] = form.cleaned_data["labels"]
    start_model_job(request, project, Job.Kind.GENERATE, params)
    return redirect("data", slug=slug)


@login_required
@require_POST
def self_reward_start(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.RUN_MODEL_JOB)
    form = SelfRewardForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not started: {errors_text(form)}")
        return redirect("data", slug=slug)
    start_model_job(request, project, Job.Kind.SELF_REWARD, dict(form.cleaned_data))
    return redirect("data", slug=slug)


@login_required
@require_POST
def filter_start(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.RUN_MODEL_JOB)
    try:
        filters = strict_json_loads(request.POST.get("filters") or "{}")
    except ValueError as error:
        messages.error(request, f"Not started: the filter settings are not valid JSON ({error}).")
        return redirect("data", slug=slug)
    start_model_job(request, project, Job.Kind.FILTER, {"filters": filters})
    return redirect("data", slug=slug)


@login_required
@require_POST
def noise_start(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.RUN_MODEL_JOB)
    start_model_job(request, project, Job.Kind.NOISE, {})
    return redirect("data", slug=slug)


@login_required
def batch_page(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.REVIEW)
    job = get_object_or_404(Job, pk=job_id, project=project, kind__in=job_kinds.review_batches())
    state = request.GET.get("state", ReviewState.PENDING)
    items = selectors.batch_items(job, state=state or None)
    return render(
        request,
        "curator/batch.html",
        {
            "project": project,
            "job": job,
            "stats": curation_selectors.batch_stats(job),
            "items": items,
            "state": state,
            "states": ReviewState.choices,
            "labels": selectors.batch_label_options(project),
        },
    )


@login_required
@require_POST
def item_decide(request: HttpRequest, slug: str, record_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.REVIEW)
    record = get_object_or_404(Record, pk=record_id, project=project)
    form = ItemDecisionForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(errors_text(form))
        result = curation.item_review(
            record=record,
            user=request.user,
            decision=form.cleaned_data["decision"],
            reason=form.cleaned_data["reason"],
            text=form.cleaned_data["text"] if "text" in request.POST else None,
            label=form.cleaned_data["label"] or None,
        )
    except ValidationError as error:
        error_text = " ".join(error.messages)
        if request.htmx:
            return render(
                request,
                "curator/_batch_item.html",
                {"item": selectors.batch_item(record), "project": project, "error": error_text,
                 "labels": selectors.batch_label_options(project)},
                status=400,
            )  # fmt: skip
        messages.error(request, f"Record {record.pk}: {error_text}")
    else:
        if request.htmx:
            return render(
                request,
                "curator/_batch_item.html",
                {"item": selectors.batch_item(result), "project": project,
                 "labels": selectors.batch_label_options(project),
                 "replaced": result.pk != record.pk,
                 # The batch's counters, swapped out of band so they follow each decision.
                 "oob_stats": _batch_stats_of(record)},
            )  # fmt: skip
    return redirect("batch", slug=slug, job_id=record.created_by_job_id)


def _batch_stats_of(record: Record) -> curation_selectors.BatchStats | None:
    job = Job.objects.filter(pk=record.created_by_job_id).first()
    return curation_selectors.batch_stats(job) if job is not None else None


@login_required
@require_POST
def batch_bulk(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.REVIEW)
    job = get_object_or_404(Job, pk=job_id, project=project, kind__in=job_kinds.review_batches())
    form = BulkDecisionForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(errors_text(form))
        count = curation.bulk_review(
            job=job, user=request.user, decision=form.cleaned_data["decision"],
            threshold=form.cleaned_data["threshold"],
            kind=form.cleaned_data["kind"] or QUALITY_KIND,
        )  # fmt: skip
    except ValidationError as error:
        messages.error(request, f"Nothing decided: {' '.join(error.messages)}")
    else:
        messages.success(request, f"{count} item(s) decided.")
    return redirect("batch", slug=slug, job_id=job.pk)


@login_required
def filter_report(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.REVIEW)
    job = get_object_or_404(Job, pk=job_id, project=project, kind=Job.Kind.FILTER)
    after = keyset_param(request)
    decisions = list(
        FilterDecision.objects.filter(job=job, pk__gt=after)
        .select_related("record")
        .order_by("id")[:PAGE]
    )
    return render(
        request,
        "curator/filter_report.html",
        {
            "project": project,
            "job": job,
            "decisions": decisions,
            "text_field": project.settings_obj.text_field,
            "next_after": decisions[-1].pk if len(decisions) == PAGE else None,
            "can_run": can(request.user, project, Action.RUN_MODEL_JOB),
        },
    )


@login_required
@require_POST
def filter_revert(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.RUN_MODEL_JOB)
    job = get_object_or_404(Job, pk=job_id, project=project, kind=Job.Kind.FILTER)
    restored = curation.filter_revert(job=job, user=request.user)
    messages.success(request, f"Filter run {job.pk} reverted: {restored} record(s) are back.")
    return redirect("filter-report", slug=slug, job_id=job.pk)


@login_required
@require_POST
def document_upload(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.IMPORT)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a text, Markdown or PDF file.")
        return redirect("data", slug=slug)
    try:
        document = document_add(project=project, upload=upload, user=request.user)
    except ValidationError as error:
        messages.error(request, f"Not added: {' '.join(error.messages)}")
    else:
        messages.success(request, f"{document.name}: {len(document.chunks)} passage(s).")
    return redirect("data", slug=slug)
