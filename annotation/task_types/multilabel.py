"""Multi-label classification: the value is any subset of the project's labels, in the
project's label order, e.g. ["politics", "sports"]."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from annotation.task_types.base import (
    YES_NO_PER_LABEL,
    KeyHelp,
    Labels,
    TaskType,
    json_cell,
    label_keys,
    label_names,
    label_values,
    text_of,
)


class Multilabel(TaskType):
    name = "multilabel"
    title = "Multi-label classification"
    prelabel_method = YES_NO_PER_LABEL
    agreement_per_unit = True
    form_field = "labels"
    export_shapes = {"text_labels": ("text", "labels")}

    def chance_choices(self, labels: Labels) -> int:
        return 2  # the LLM answers yes or no for each label

    def label_lookup(self, value: str) -> dict[str, Any] | None:
        # The label as a JSON string inside the stored list: a text match both databases run.
        return {"value__icontains": json.dumps(value)}

    def value_from_form(self, form: Mapping[str, Any]) -> Any:
        getlist = getattr(form, "getlist", None)
        return getlist(self.form_field) if getlist else form.get(self.form_field, [])

    def clean(self, labels: Labels, payload: Any, raw: Any, text_field: str = "text") -> list[str]:
        values = label_values(labels)
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list | tuple):
            raise ValidationError("multi-label values are a list of labels")
        chosen = {str(item) for item in raw}
        unknown = sorted(chosen - set(values))
        if unknown:
            raise ValidationError(f"not labels of this project: {', '.join(unknown)}")
        return [value for value in values if value in chosen]

    def import_example(self, labels: Labels, text_field: str = "text") -> dict[str, Any]:
        return {text_field: "The text people label", "label": label_values(labels)[:2]}

    def labels_in(self, value: Any) -> set[str]:
        return {str(item) for item in value or []}

    def agreement_units(self, labels: Labels, value: Any, text: str = "") -> list[tuple[str, Any]]:
        # One yes/no unit per label: people agree or not on each label separately.
        chosen = set(value or [])
        return [(str(label["value"]), int(label["value"] in chosen)) for label in labels]

    def export_row(self, payload: Any, value: Any, text_field: str = "text") -> dict[str, Any]:
        return {"text": text_of(payload, text_field), "labels": list(value)}

    def import_row(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"text": row.get("text", ""), "label": json_cell(row.get("labels", []))}

    def describe(self, labels: Labels, value: Any) -> str:
        if value is None:
            return ""
        names = label_names(labels)
        return ", ".join(names.get(v, v) for v in value) or "(none apply)"

    def key_help(self, labels: Labels) -> list[KeyHelp]:
        return [KeyHelp((k["key"],), f"toggle {k['name']}") for k in label_keys(labels)] + [
            KeyHelp(("Enter",), "submit the ticked labels")
        ]

    def card_context(
        self, payload: Any, text_field: str, current: Any, suggested: Any
    ) -> dict[str, Any]:
        # Ticked at first: the label being revised, else the model's suggestion.
        shown = current if current is not None else suggested
        return {"text": text_of(payload, text_field), "selected": shown or []}
