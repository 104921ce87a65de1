from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from curator.models import Record
from curator.permissions import Action
from curator.services.model_jobs import record_hold_clear
from curator.views.access import project_for
from curator.views.common import keyset_param

PAGE = 50


@login_required
def held_records(request: HttpRequest, slug: str) -> HttpResponse:
    """Records held from training (e.g. scored toxic), for curators to clear or leave held."""
    project = project_for(request.user, slug, Action.REVIEW)
    after = keyset_param(request)
    records = list(
        Record.objects.filter(project=project, held=True, pk__gt=after).order_by("id")[:PAGE]
    )
    context = {
        "project": project,
        "records": records,
        "text_field": project.settings_obj.text_field,
        "next_after": records[-1].pk if len(records) == PAGE else None,
    }
    return render(request, "curator/held_records.html", context)


@login_required
@require_POST
def held_record_clear(request: HttpRequest, slug: str, record_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.REVIEW)
    record = get_object_or_404(Record, pk=record_id, project=project)
    record_hold_clear(record=record, user=request.user)
    return HttpResponse(
        f'<td colspan="3" class="muted">Record {record.pk} cleared: it may train.</td>'
    )
