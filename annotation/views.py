"""The labeling loop: one page, then htmx fragments for every record after the first."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, ValidationError
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation import selectors as annotation_selectors
from annotation import task_types
from annotation.models import MAX_SECONDS_SPENT, Annotation, Assignment, Source, seconds_usable
from annotation.services.annotations import (
    annotation_revise,
    annotation_submit,
    comment_add,
    last_own_annotation,
    latest_version,
    suggestion_with_reason,
)
from annotation.services.assignment import assignment_skip, next_assignment
from curator.models import Project, Record
from curator.permissions import Action
from curator.views.access import project_for
from curator.views.common import as_id, keyset_param

SKIP_REASONS = [
    ("unclear", "Unclear / ambiguous"),
    ("off-topic", "Off-topic or broken"),
    ("offensive", "Offensive, I'd rather not"),
    ("expertise", "Needs expertise I lack"),
]
HISTORY_PAGE = 50


def _seconds(request: HttpRequest) -> float | None:
    """The card's timer. The page's script always sends a plain number; anything else (nan,
    inf, 1e308, text) is a forged post, refused with 400 before anything is stored."""
    given = request.POST.get("seconds") or ""
    if not given:
        return None
    try:
        seconds = float(given)
    except ValueError:
        raise BadRequest("seconds must be a number") from None
    if not seconds_usable(seconds) and seconds != 0:
        raise BadRequest(f"seconds must be a number from 0 to {MAX_SECONDS_SPENT:g}")
    return seconds or None


def _next_card(
    request: HttpRequest, project: Project, error: str = "", notice: str = ""
) -> HttpResponse:
    """After a label or a skip: the next card for htmx, the page for a plain form post."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("annotate", slug=project.slug)
    return _card(request, project, error=error, notice=notice)


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
        # Shown muted, with no key to accept it and nothing pre-filled from it.
        "withheld": withheld,
        "withheld_text": task.describe(labels, withheld.value) if withheld else "",
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
    request: HttpRequest, project: Project, error: str = "", notice: str = ""
) -> HttpResponse:
    assignment = next_assignment(project, request.user)
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


def _own_assignment(request: HttpRequest, project: Project, assignment_id: int) -> Assignment:
    return get_object_or_404(
        Assignment.objects.select_related("record", "project"),
        pk=assignment_id,
        project=project,
        annotator=request.user,
    )


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
    project = project_for(request.user, slug, Action.ANNOTATE)
    assignment = _own_assignment(request, project, assignment_id)
    suggestion = as_id(request.POST.get("suggestion"))
    try:
        annotation_submit(
            assignment=assignment,
            user=request.user,
            value=task_types.value_from_form(project.task_type, request.POST),
            seconds_spent=_seconds(request),
            suggestion_id=suggestion,
        )
    except ValidationError as error:
        return _next_card(request, project, error=" ".join(error.messages))
    return _next_card(request, project)


@login_required
@require_POST
def skip(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.ANNOTATE)
    assignment = _own_assignment(request, project, assignment_id)
    assignment_skip(assignment, reason=request.POST.get("reason", ""))
    return _next_card(request, project)


@login_required
@require_POST
def comment(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.ANNOTATE)
    assignment = _own_assignment(request, project, assignment_id)
    flag = request.POST.get("flag") in ("on", "1", "true")
    try:
        comment_add(
            record=assignment.record, user=request.user, text=request.POST.get("text", ""),
            flag=flag,
        )  # fmt: skip
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
    before = latest_version(annotation).pk
    try:
        revised = annotation_revise(
            annotation=annotation,
            user=request.user,
            value=task_types.value_from_form(project.task_type, request.POST),
            seconds_spent=_seconds(request),
        )
    except ValidationError as error:
        if not request.htmx:
            messages.error(request, " ".join(error.messages))
            return redirect("annotate", slug=project.slug)
        return _revise_card(request, project, annotation, error=" ".join(error.messages))
    # The service stores nothing when the value is the same; say so rather than "changed".
    if revised.pk == before:
        return _next_card(request, project, notice="Label unchanged.")
    return _next_card(request, project, notice="Label changed; the old one is kept in history.")


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
