"""The data manager: a project's records, searched, filtered, sorted, acted on and exported."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from curator.errors import NotStartable
from curator.models import Project, Round, User
from curator.permissions import Action, can
from curator.record_selectors import (
    SCORE_KINDS,
    RecordFilters,
    assignable_annotators,
    capped_count,
    exportable_rounds,
    filtered_records,
    record_rows,
    records_page,
    reserved_for,
)
from curator.services.exports import export_write
from curator.services.jobs import BrokerUnavailable
from curator.services.record_actions import ACTIONS, RECORD_JOBS, records_bulk_act
from curator.views.access import project_for
from curator.views.forms import errors_text
from curator.views.record_forms import (
    COLUMNS,
    FORMAT_NAMES,
    SORTS,
    BulkActionForm,
    ExportForm,
    RecordFilterForm,
)


def _filter_form(project: Project, data: QueryDict) -> RecordFilterForm:
    annotators = list(assignable_annotators(project).values_list("pk", "username"))
    return RecordFilterForm(data, project=project, annotators=annotators)


@login_required
@require_GET
def data_manager(request: HttpRequest, slug: str) -> HttpResponse:
    """Curators and admins see every record; annotators a read-only view of what they labeled."""
    project = project_for(request.user, slug, Action.VIEW)
    curator = can(request.user, project, Action.REVIEW)
    form = _filter_form(project, request.GET)
    if not form.is_valid():
        return render(
            request, "curator/data_manager.html",
            {"project": project, "form": form, "curator": curator, "columns": COLUMNS},
            status=400,
        )  # fmt: skip
    filters = form.filters()
    page = records_page(project, request.user, filters, form.sort_order(), form.cursor())
    rows = record_rows(project, page.records, author=None if curator else request.user)
    reserved = reserved_for([row.record.pk for row in rows]) if curator else {}
    for row in rows:
        row.reserved = reserved.get(row.record.pk, [])  # type: ignore[attr-defined]
    # An annotator's slice shows their own labels, not who else labeled the records.
    shown = [c for c in form.columns() if curator or c != "annotators"]
    context = {
        "project": project,
        "form": form,
        "curator": curator,
        "can_run_jobs": can(request.user, project, Action.RUN_MODEL_JOB),
        "rows": rows,
        "columns": COLUMNS,
        "shown": shown,
        "score_columns": [c for c in shown if c in SCORE_KINDS],
        "next_query": form.query(after=str(page.next_cursor)) if page.next_cursor else "",
        "first_query": form.query() if form.cleaned_data.get("after") else "",
        "query": form.query(),
        "actions": ACTIONS,
        "record_jobs": RECORD_JOBS,
        "export_form": ExportForm(None, project=project),
        "formats": FORMAT_NAMES,
        "rounds": exportable_rounds(project),
        "filtered": not filters.is_empty(),
        "sort": dict(SORTS).get(str(page.sort), str(page.sort)),
    }
    template = "curator/_records_table.html" if request.headers.get("HX-Request") else (
        "curator/data_manager.html")  # fmt: skip
    return render(request, template, context)


@login_required
@require_GET
def records_count(request: HttpRequest, slug: str) -> HttpResponse:
    """How many records the filters select (exact up to a cap). Asked by the table after it
    shows, because on 1M records a count is a scan of every match while a page is an index
    walk of 51 rows."""
    project = project_for(request.user, slug, Action.VIEW)
    form = _filter_form(project, request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(f"Not counted: {errors_text(form)}")
    filters = form.filters()
    count, more = capped_count(filtered_records(project, request.user, filters))
    context = {"count": count, "more": more, "filtered": not filters.is_empty()}
    return render(request, "curator/_record_count.html", context)


@login_required
@require_POST
def records_bulk(request: HttpRequest, slug: str) -> HttpResponse:
    """One bulk action on the selected rows or on every record the filters select."""
    project = project_for(request.user, slug, Action.REVIEW)
    form = BulkActionForm(request.POST)
    # Re-encoded: the posted text goes into a Location header.
    query = QueryDict(request.POST.get("query", "")[:4000]).urlencode()
    back = f"{reverse('records', args=[project.slug])}?{query}"
    if not form.is_valid():
        messages.error(request, f"Nothing done: {errors_text(form)}")
        return redirect(back)
    filter_form = _filter_form(project, QueryDict(form.cleaned_data["query"]))
    if not filter_form.is_valid():
        messages.error(request, f"Nothing done: {errors_text(filter_form)}")
        return redirect(back)
    filters = filter_form.filters()
    if form.cleaned_data["scope"] == "selected":
        filters = RecordFilters(ids=tuple(form.cleaned_data["ids"]))
    records = filtered_records(project, request.user, filters)
    names = form.usernames()
    annotators = list(User.objects.filter(username__in=names))
    missing = set(names) - {user.username for user in annotators}
    if missing:
        messages.error(request, f"Nothing done: no such user(s): {', '.join(sorted(missing))}")
        return redirect(back)
    try:
        result = records_bulk_act(
            project=project, user=request.user, action=form.cleaned_data["action"],
            records=records, annotators=annotators, job_kind=form.cleaned_data["job_kind"],
            described={**filter_form.described(), "scope": form.cleaned_data["scope"]},
        )  # fmt: skip
    except (NotStartable, BrokerUnavailable) as error:
        messages.error(request, f"Nothing done: {error}")
    except ValidationError as error:  # a job's parameters refused
        messages.error(request, f"Nothing done: {' '.join(error.messages)}")
    else:
        messages.success(request, result.message + ".")
    return redirect(back)


@login_required
@require_GET
def export_download(request: HttpRequest, slug: str) -> HttpResponse:
    """The export dialog's download: a zip of the data file and its manifest.json."""
    project = project_for(request.user, slug, Action.REVIEW)
    form = ExportForm(request.GET, project=project)
    if not form.is_valid():
        return HttpResponseBadRequest(f"Export refused: {errors_text(form)}")
    filter_form = _filter_form(project, request.GET)
    if not filter_form.is_valid():
        return HttpResponseBadRequest(f"Export refused: {errors_text(filter_form)}")
    data = form.cleaned_data
    records, described = None, {}
    if data["scope"] == "filtered":
        records = filtered_records(project, request.user, filter_form.filters())
        described = filter_form.described()
    elif data["scope"] == "selected":
        ids = form.selected_ids()
        records = filtered_records(project, request.user, RecordFilters(ids=ids))
        described = {"selected": len(ids)}
    round_ = None
    if data.get("export_round"):
        round_ = get_object_or_404(Round, project=project, number=data["export_round"])
    workdir = Path(tempfile.mkdtemp(prefix="curator-export-"))
    try:
        export_write(
            project, workdir / "export", data["output"], round_=round_,
            split=data.get("export_split") or None, records=records, shape=data["shape"],
            filters=described,
        )  # fmt: skip
        archive = shutil.make_archive(str(workdir / project.slug), "zip", workdir / "export")
        handle = open(archive, "rb")  # noqa: SIM115 - FileResponse closes it
    finally:
        # The open handle keeps the zip readable; the disk space returns when it closes.
        shutil.rmtree(workdir, ignore_errors=True)
    name = "-".join(
        part for part in (
            project.slug, data["output"], data["shape"],
            f"round-{round_.number}" if round_ else "", data.get("export_split") or "",
        ) if part
    )  # fmt: skip
    return FileResponse(handle, as_attachment=True, filename=f"{name}.zip",
                        content_type="application/zip")  # fmt: skip
