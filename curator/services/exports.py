"""Training-ready rows of a project's labeled records, in its task type's shape."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from annotation import task_types
from annotation.models import Annotation
from curator.models import Project, Record
from curator.services.rounds import gold_annotations, training_labels

CHUNK = 2000


def labeled_rows(project: Project, split: str | None = None) -> Iterator[dict[str, Any]]:
    """One dict per labeled record, in record order: the consensus label as the trainer of the
    task type wants it (text/label, prompt/chosen/rejected, prompt/response with messages...),
    with the record and annotation ids that let any row be traced back."""
    chosen = {**training_labels(project), **gold_annotations(project)}
    field = project.setting("text_field")
    records = Record.objects.filter(project=project, pk__in=list(chosen)).order_by("id")
    if split:
        records = records.filter(split=split)
    iterator = records.values_list("id", "split", "payload", "content_hash").iterator(
        chunk_size=CHUNK
    )
    while batch := list(islice(iterator, CHUNK)):
        values, sources = {}, {}
        for pk, value, source in Annotation.objects.filter(
            pk__in=[chosen[row[0]][0] for row in batch]
        ).values_list("id", "value", "source"):
            values[pk], sources[pk] = value, source
        for record_id, record_split, payload, digest in batch:
            annotation_id = chosen[record_id][0]
            row = task_types.export_row(project.task_type, payload, values[annotation_id], field)
            yield {
                "record_id": record_id,
                "split": record_split,
                **row,
                "annotation_id": annotation_id,
                "label_source": sources[annotation_id],
                "content_hash": digest,
            }
