"""Single-label classification: the value is one label of the project, e.g. "positive"."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from annotation.task_types.base import (
    ADVERSARIAL,
    CLASSIFIER,
    GROUNDED,
    INSTRUCTION,
    LABEL_SCORES,
    LABELED_TEXT,
    REWRITE,
    Labels,
    TaskType,
    label_keys,
    label_values,
    text_of,
)


class Classification(TaskType):
    export_shapes = {"text_label": ("text", "label")}
    name = "classification"
    title = "Single-label classification"
    round_kinds = (CLASSIFIER,)
    prelabel_method = LABEL_SCORES
    generation = LABELED_TEXT
    generators = (INSTRUCTION, REWRITE, ADVERSARIAL, GROUNDED)

    def clean(self, labels: Labels, payload: Any, raw: Any, text_field: str = "text") -> str:
        values = label_values(labels)
        label = "" if raw is None else str(raw)
        if label not in values:
            raise ValidationError(
                f"{label!r} is not a label of this project; use one of: " + ", ".join(values)
            )
        return label

    def import_label(self, labels: Labels, payload: Any, label: Any, text_field: str) -> str:
        # Labels are plain strings here: no JSON in cells, and the error lists what is allowed.
        label = str(label)
        allowed = set(label_values(labels))
        if allowed and label not in allowed:
            raise ValueError(f"label {label!r} is not one of: {', '.join(sorted(allowed))}")
        return label

    def vote_key(self, value: Any) -> str:
        return str(value)

    def export_row(self, payload: Any, value: Any, text_field: str = "text") -> dict[str, Any]:
        return {"text": text_of(payload, text_field), "label": value}

    def import_row(self, row: dict[str, Any]) -> dict[str, Any]:
        return row  # already a payload with its `label`

    def manifest_label(self, row: dict[str, Any]) -> str:
        return str(row["label"])

    def settle_options(self, labels: Labels) -> list[tuple[str, str]]:
        return [(k["value"], k["name"]) for k in label_keys(labels)]
