"""The labeling loop: one page, then htmx fragments for every record after the first."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation import selectors as annotation_selectors
from annotation import task_types
from annotation.forms import CommentForm, LabelForm, SkipForm
from annotation.models import OFFENSIVE_SKIP, Annotation, Source
from annotation.services.annotations import (
    annotation_revise,
    annotation_submit,
    comment_add,
    last_own_annotation,
    latest_version,
    suggestion_origin,
    suggestion_with_reason,
)
from annotation.services.assignment import assignment_skip, next_assignment
from curator.models import Project, Record
from curator.permissions import Action
from curator.views.access import own_assignment_for, project_for
from curator.views.common import keyset_param
from curator.views.forms import errors_text

SKIP_REASONS = [
    ("unclear", "Unclear / ambiguous"),
    ("off-topic", "Off-topic or broken"),
    (OFFENSIVE_SKIP, "Offensive, I'd rather not"),
    ("expertise", "Needs expertise I lack"),
]
HISTORY_PAGE = 50


def _label_refused(request: HttpRequest, project: Project, error: str) -> HttpResponse:
    """A label post whose timer or suggestion field is malformed: the page's script always
    sends a plain number, so this is a forged or broken post. htmx gets the same card with the
    reason (to label again); a plain post gets a 400. Nothing is stored either way."""
    if request.htmx:
        return _card(request, project, error=error)
    return HttpResponseBadRequest(f"Not saved: {error}", content_type="text/plain; charset=utf-8")


def _next_card(
    request: HttpRequest,
    project: Project,
    error: str = "",
    notice: str = "",
    *,
    lease_closed: bool = False,
) -> HttpResponse:
    """After a label or a skip: the next card for htmx, the page for a plain form post.
    `lease_closed`: the label or skip just closed the annotator's lease (see next_assignment)."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("annotate", slug=project.slug)
    return _card(request, project, error=error, notice=notice, lease_closed=lease_closed)


def _card_context(project: Project, record: Record, current: Any = None) -> dict[str, Any]:
    """What every task template needs to show a record and its form; the task type adds the
    record's fields and the form's starting state for its own card template."""
    task = task_types.get(project.task_type)
    suggestion, withheld, withheld_reason = (
        suggestion_with_reason(record) if current is None else (None, None, "")
    )
    labels = project.labels
    return {
        "task": task.name,
        "task_type": task,
        "record": record,
        "suggestion": suggestion,
        "suggestion_text": task.describe(labels, suggestion.value) if suggestion else "",
        "suggestion_origin": suggestion_origin(suggestion) if suggestion else "",
        # Shown muted, with no key to accept it and nothing pre-filled from it.
        "withheld": withheld,
        "withheld_text": task.describe(labels, withheld.value) if withheld else "",
        "withheld_origin": suggestion_origin(withheld) if withheld else "",
        "withheld_reason": withheld_reason,
        "current": current,
        "keys": task_types.label_keys(labels),
        **task.card_context(
            record.payload,
            project.setting("text_field"),
            current,
            suggestion.value if suggestion else None,
        ),
    }


def _card(
    request: HttpRequest,
    project: Project,
    error: str = "",
    notice: str = "",
    *,
    lease_closed: bool = False,
) -> HttpResponse:
    assignment = next_assignment(project, request.user, lease_closed=lease_closed)
    context: dict[str, Any] = {
        "project": project,
        "assignment": assignment,
        "progress": annotation_selectors.annotator_progress(project, request.user),
        "error": error,
        "notice": notice,
        "skip_reasons": SKIP_REASONS,
        "mode": "label",
    }
    if assignment is not None:
        context.update(_card_context(project, assignment.record))
    return render(request, "annotation/_record_card.html", context)


def _revise_card(
    request: HttpRequest, project: Project, annotation: Annotation, error: str = ""
) -> HttpResponse:
    context: dict[str, Any] = {
        "project": project,
        "revising": annotation,
        "progress": annotation_selectors.annotator_progress(project, request.user),
        "error": error,
        "mode": "revise",
    }
    context.update(_card_context(project, annotation.record, current=annotation.value))
    return render(request, "annotation/_record_card.html", context)


def _labeling_page(
    request: HttpRequest, project: Project, first_card: int | str = ""
) -> HttpResponse:
    """The labeling page; its first card is the next record, or `first_card`'s label to edit."""
    return render(
        request,
        "annotation/annotate.html",
        {
            "project": project,
            "key_help": task_types.get(project.task_type).key_help(project.labels),
            "first_card": first_card,
        },
    )


@login_required
def annotate(request: HttpRequest, slug: str) -> HttpResponse:
    return _labeling_page(request, project_for(request.user, slug, Action.ANNOTATE))


@login_required
def next_record(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.ANNOTATE)
    return _card(request, project)


def _own_annotation(request: HttpRequest, project: Project, annotation_id: int) -> Annotation:
    return get_object_or_404(
        Annotation.objects.select_related("record", "project"),
        pk=annotation_id,
        project=project,
        author=request.user,
        source=Source.HUMAN,
    )


@login_required
@require_POST
def submit(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    assignment = own_assignment_for(request.user, slug, assignment_id)
    project = assignment.project
    form = LabelForm(request.POST, task_type=project.task_type)
    if not form.is_valid():
        return _label_refused(request, project, errors_text(form))
    try:
        annotation_submit(
            assignment=assignment,
            user=request.user,
            value=form.cleaned_data["value"],
            seconds_spent=form.cleaned_data["seconds"],
            suggestion_id=form.cleaned_data["suggestion"],
        )
    except ValidationError as error:
        return _next_card(request, project, error=" ".join(error.messages))
    return _next_card(request, project, lease_closed=True)


@login_required
@require_POST
def skip(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    assignment = own_assignment_for(request.user, slug, assignment_id)
    project = assignment.project
    form = SkipForm(request.POST)
    if not form.is_valid():
        return _next_card(request, project, error=errors_text(form))
    assignment_skip(assignment, reason=form.cleaned_data["reason"])
    return _next_card(request, project, lease_closed=True)


@login_required
@require_POST
def comment(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    assignment = own_assignment_for(request.user, slug, assignment_id)
    project = assignment.project
    form = CommentForm(request.POST)
    if not form.is_valid():
        return _next_card(request, project, error=errors_text(form))
    flag = form.cleaned_data["flag"]
    try:
        comment_add(
            record=assignment.record, user=request.user, text=form.cleaned_data["text"], flag=flag
        )
    except ValidationError as error:
        return _next_card(request, project, error=" ".join(error.messages))
    notice = "Flagged for a curator." if flag else "Comment saved."
    return _next_card(request, project, notice=notice)


@login_required
def undo(request: HttpRequest, slug: str) -> HttpResponse:
    """Back to the last label given, to change it (the current record stays reserved)."""
    project = project_for(request.user, slug, Action.ANNOTATE)
    last = last_own_annotation(project, request.user)
    if last is None:
        return _card(request, project, error="Nothing to undo yet.")
    return _revise_card(request, project, last)


@login_required
def edit_card(request: HttpRequest, slug: str, annotation_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.ANNOTATE)
    return _revise_card(request, project, _own_annotation(request, project, annotation_id))


@login_required
def edit(request: HttpRequest, slug: str, annotation_id: int) -> HttpResponse:
    """The labeling page, opened on one of one's own labels (from the history)."""
    project = project_for(request.user, slug, Action.ANNOTATE)
    return _labeling_page(request, project, _own_annotation(request, project, annotation_id).pk)


@login_required
@require_POST
def revise(request: HttpRequest, slug: str, annotation_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.ANNOTATE)
    annotation = _own_annotation(request, project, annotation_id)
    form = LabelForm(request.POST, task_type=project.task_type)
    if not form.is_valid():
        return _revise_refused(request, project, annotation, errors_text(form))
    before = latest_version(annotation).pk
    try:
        revised = annotation_revise(
            annotation=annotation,
            user=request.user,
            value=form.cleaned_data["value"],
            seconds_spent=form.cleaned_data["seconds"],
        )
    except ValidationError as error:
        return _revise_refused(request, project, annotation, " ".join(error.messages))
    # The service stores nothing when the value is the same; say so rather than "changed".
    if revised.pk == before:
        return _next_card(request, project, notice="Label unchanged.")
    return _next_card(request, project, notice="Label changed; the old one is kept in history.")


def _revise_refused(
    request: HttpRequest, project: Project, annotation: Annotation, error: str
) -> HttpResponse:
    """A refused change: the same label's card again with the reason (the page, for a plain
    form post)."""
    if not request.htmx:
        messages.error(request, error)
        return redirect("annotate", slug=project.slug)
    return _revise_card(request, project, annotation, error=error)


@login_required
def history(request: HttpRequest, slug: str) -> HttpResponse:
    """The annotator's own labels, newest first, current versions only; keyset paginated."""
    project = project_for(request.user, slug, Action.ANNOTATE)
    mine = Annotation.objects.filter(project=project, author=request.user, source=Source.HUMAN)
    newer = Annotation.objects.filter(supersedes=OuterRef("pk"))
    before = keyset_param(request, "before")
    if before:
        mine = mine.filter(pk__lt=before)
    rows = list(
        mine.exclude(Exists(newer)).select_related("record").order_by("-id")[: HISTORY_PAGE + 1]
    )
    more = len(rows) > HISTORY_PAGE
    rows = rows[:HISTORY_PAGE]
    field = project.settings_obj.text_field
    items = [
        {
            "annotation": row,
            "text": task_types.text_of(row.record.payload, field)
            or task_types.text_of(row.record.payload, "prompt"),
            "label": task_types.describe(project.task_type, project.labels, row.value),
            "revised": row.supersedes_id is not None,
        }
        for row in rows
    ]
    return render(
        request,
        "annotation/history.html",
        {"project": project, "items": items, "next_before": rows[-1].pk if more else None},
    )
