"""Span labeling: tag stretches of the text with the project's tags.

Value: [{"start": 0, "end": 5, "label": "PER", "text": "Alice"}, ...], sorted, never
overlapping. Agreement counts per whitespace token (its tag, or "O" outside every span).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from annotation.task_types.base import (
    PHRASES,
    KeyHelp,
    Labels,
    TaskType,
    json_cell,
    label_keys,
    label_names,
    label_values,
    text_of,
)

TOKEN = re.compile(r"\S+")


def spans_json(value: Any) -> str:
    """Spans as the labeling page's script reads them."""
    return json.dumps(
        [{"start": s["start"], "end": s["end"], "label": s["label"]} for s in (value or [])]
    )


class Span(TaskType):
    name = "span"
    title = "Span labeling"
    min_labels = 1
    prelabel_method = PHRASES
    agreement_needs_text = True
    record_votes_are_categories = False
    form_field = "spans"
    export_shapes = {"text_spans": ("text", "spans")}

    def label_lookup(self, value: str) -> dict[str, Any] | None:
        # A span tagged `value` inside the stored list, as its JSON text; the two databases write
        # it alike (`"label": "X"`), so a text match finds it on both.
        return {"value__icontains": f'"label": {json.dumps(value)}'}

    def import_example(self, labels: Labels, text_field: str = "text") -> dict[str, Any]:
        tag = label_values(labels)[0] if labels else ""
        return {
            text_field: "Ada Lovelace wrote the first program.",
            "label": [{"start": 0, "end": 12, "label": tag}],
        }

    def labels_in(self, value: Any) -> set[str]:
        return {str(span.get("label")) for span in value or [] if isinstance(span, Mapping)}

    def value_from_form(self, form: Mapping[str, Any]) -> Any:
        raw = form.get(self.form_field) or "[]"
        try:
            return json.loads(raw)
        except (TypeError, ValueError):
            raise ValidationError("spans must be a JSON list of {start, end, label}") from None

    def clean(
        self, labels: Labels, payload: Any, raw: Any, text_field: str = "text"
    ) -> list[dict[str, Any]]:
        values = label_values(labels)
        text = text_of(payload, text_field)
        if not isinstance(raw, list):
            raise ValidationError("spans must be a list of {start, end, label}")
        spans: list[dict[str, Any]] = []
        for item in raw:
            if not isinstance(item, Mapping):
                raise ValidationError("each span is an object {start, end, label}")
            try:
                start, end = int(item.get("start", "")), int(item.get("end", ""))
            except (TypeError, ValueError):
                raise ValidationError("span start and end are character offsets") from None
            label = str(item.get("label", ""))
            if label not in values:
                raise ValidationError(f"{label!r} is not a tag of this project")
            if not 0 <= start < end <= len(text):
                raise ValidationError(f"span {start}-{end} lies outside the text (0-{len(text)})")
            spans.append({"start": start, "end": end, "label": label, "text": text[start:end]})
        spans.sort(key=lambda span: (span["start"], span["end"]))
        for before, after in itertools.pairwise(spans):
            if after["start"] < before["end"]:
                raise ValidationError(
                    f"spans {before['start']}-{before['end']} and "
                    f"{after['start']}-{after['end']} overlap"
                )
        return spans

    def vote_key(self, value: Any) -> str:
        # The copied text follows from the offsets; it never decides.
        return json.dumps(
            [(span["start"], span["end"], span["label"]) for span in value or []],
            separators=(",", ":"),
        )

    def agreement_units(self, labels: Labels, value: Any, text: str = "") -> list[tuple[str, Any]]:
        units = []
        for index, token in enumerate(TOKEN.finditer(text)):
            tag = "O"
            for span in value or []:
                if span["start"] <= token.start() < span["end"]:
                    tag = span["label"]
                    break
            units.append((str(index), tag))
        return units

    def export_row(self, payload: Any, value: Any, text_field: str = "text") -> dict[str, Any]:
        return {"text": text_of(payload, text_field), "spans": list(value)}

    def import_row(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"text": row.get("text", ""), "label": json_cell(row.get("spans", []))}

    def describe(self, labels: Labels, value: Any) -> str:
        if value is None:
            return ""
        names = label_names(labels)
        return "; ".join(f"{s['text']} [{names.get(s['label'], s['label'])}]" for s in value) or (
            "(no spans)"
        )

    def key_help(self, labels: Labels) -> list[KeyHelp]:
        return [
            KeyHelp((), "Select text, then a tag's key:"),
            *(KeyHelp((k["key"],), k["name"]) for k in label_keys(labels)),
            KeyHelp(("Backspace",), "remove the last span"),
            KeyHelp(("Enter",), "submit"),
        ]

    def card_context(
        self, payload: Any, text_field: str, current: Any, suggested: Any
    ) -> dict[str, Any]:
        # Spans start from the label being revised, else from the model's suggestion.
        shown = current if current is not None else suggested
        return {"text": text_of(payload, text_field), "spans_json": spans_json(shown)}
