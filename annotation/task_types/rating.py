"""Rating on a scale: the value is a point of the project's scale as a number, e.g. 4.

The project's labels are the scale points (values 1, 2, ...), named by their rubric line.
"""

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


class Rating(TaskType):
    name = "rating"
    title = "Rating on a scale"
    level = "ordinal"
    max_labels = 10  # keys 1-9 and 0
    round_kinds = (CLASSIFIER,)
    prelabel_method = LABEL_SCORES
    generation = LABELED_TEXT
    generators = (INSTRUCTION, REWRITE, ADVERSARIAL, GROUNDED)
    form_field = "rating"
    export_shapes = {"text_rating": ("text", "rating")}

    def label_lookup(self, value: str) -> dict[str, Any] | None:
        try:
            return {"value": int(value)}  # stored as a number
        except ValueError:
            return None

    def check_labels(self, labels: Labels) -> None:
        try:
            points = [int(label["value"]) for label in labels]
        except ValueError:
            raise ValidationError("a rating scale's values must be whole numbers") from None
        if points != sorted(points) or len(set(points)) != len(points):
            raise ValidationError("a rating scale's values must increase, e.g. 1, 2, 3, 4, 5")

    def clean(self, labels: Labels, payload: Any, raw: Any, text_field: str = "text") -> int:
        values = label_values(labels)
        try:
            point = int(str(raw).strip())
        except (TypeError, ValueError):
            raise ValidationError(f"a rating is one of {', '.join(values)}") from None
        if str(point) not in values:
            raise ValidationError(f"a rating is one of {', '.join(values)}")
        return point

    def vote_key(self, value: Any) -> str:
        return str(value)

    def agreement_units(self, labels: Labels, value: Any, text: str = "") -> list[tuple[str, Any]]:
        return [("", int(value))]  # a number, so that ordinal agreement sees the distances

    def export_row(self, payload: Any, value: Any, text_field: str = "text") -> dict[str, Any]:
        return {"text": text_of(payload, text_field), "rating": int(value)}

    def import_row(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"text": row.get("text", ""), "label": row.get("rating")}

    def manifest_label(self, row: dict[str, Any]) -> str:
        return str(row["rating"])

    def settle_options(self, labels: Labels) -> list[tuple[str, str]]:
        return [(k["value"], k["name"]) for k in label_keys(labels)]
