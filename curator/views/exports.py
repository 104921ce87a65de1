from __future__ import annotations

from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, StreamingHttpResponse

from annotation.labels import training_labels
from curator.exporting import csv_lines
from curator.models import Record
from curator.models.records import payload_text
from curator.permissions import Action
from curator.views.access import project_for

HEADER = ["record_id", "split", "text", "label", "annotation_id", "content_hash"]


@login_required
def records_csv(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """Every record with the label it would train on now; streamed, spreadsheet-safe."""
    project = project_for(request.user, slug, Action.REVIEW)
    labels = training_labels(project)
    field = project.settings_obj.text_field

    def rows() -> Iterator[list[object]]:
        records = Record.objects.filter(project=project).order_by("id")
        for record_id, split, payload, digest in records.values_list(
            "id", "split", "payload", "content_hash"
        ).iterator(chunk_size=2000):
            annotation_id, label = labels.get(record_id, ("", ""))
            yield [record_id, split, payload_text(payload, field), label, annotation_id, digest]

    response = StreamingHttpResponse(csv_lines(HEADER, rows()), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-records.csv"'
    return response
