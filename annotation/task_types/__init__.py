"""What a label is, per task type: its shape, how it is checked, compared, counted, shown and
exported. One module per task type behind one interface (`base.TaskType`), listed once in
`registry.py`; callers ask `get(project.task_type)` instead of branching on the name.

The module-level functions below keep the older call style (`clean_value(task_type, ...)`)
working; each only looks the task type up and delegates, so no rule lives here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from annotation.task_types.base import (
    ADVERSARIAL,
    CLASSIFIER,
    DPO,
    DRAFT,
    GENERATE,
    GROUNDED,
    INSTRUCTION,
    JUDGE,
    LABEL_SCORES,
    LABELED_TEXT,
    PHRASES,
    PRELABEL,
    PROMPT_RESPONSE,
    REWARD,
    REWRITE,
    SFT,
    YES_NO_PER_LABEL,
    KeyHelp,
    Labels,
    TaskType,
    draft_of,
    label_keys,
    text_of,
)
from annotation.task_types.correction import MAX_TEXT
from annotation.task_types.pairwise import CHOICES as PAIRWISE_CHOICES
from annotation.task_types.pairwise import MAX_REASON
from annotation.task_types.registry import all, choices, get, names, supporting
from annotation.task_types.span import TOKEN, spans_json

# The stored names, for callers that need one by name (defaults, tests).
CLASSIFICATION = "classification"
MULTILABEL = "multilabel"
RATING = "rating"
PAIRWISE = "pairwise"
CORRECTION = "correction"
SPAN = "span"

# Keys an export adds around the trainer's fields; an import of an export drops them.
EXPORT_KEYS = (
    "record_id", "split", "annotation_id", "label_source", "review", "held", "content_hash",
)  # fmt: skip

spec = get  # the older name


def check_labels(task_type: str, labels: Labels) -> None:
    get(task_type).check_labels(labels)


def value_from_form(task_type: str, form: Mapping[str, Any]) -> Any:
    return get(task_type).value_from_form(form)


def clean_value(
    task_type: str, labels: Labels, payload: Any, raw: Any, text_field: str = "text"
) -> Any:
    return get(task_type).clean(labels, payload, raw, text_field)


def vote_key(task_type: str, value: Any) -> str:
    return get(task_type).vote_key(value)


def same_value(task_type: str, a: Any, b: Any) -> bool:
    return get(task_type).same_value(a, b)


def agreement_units(
    task_type: str, labels: Labels, value: Any, text: str = ""
) -> list[tuple[str, Any]]:
    return get(task_type).agreement_units(labels, value, text)


def export_row(task_type: str, payload: Any, value: Any, text_field: str = "text") -> dict:
    return get(task_type).export_row(payload, value, text_field)


def import_row(task_type: str, row: dict[str, Any]) -> dict[str, Any]:
    """An exported row (with its export keys) back to a payload with its `label`."""
    return get(task_type).import_row({k: v for k, v in row.items() if k not in EXPORT_KEYS})


def describe(task_type: str, labels: Labels, value: Any) -> str:
    return get(task_type).describe(labels, value)


__all__ = [
    "ADVERSARIAL", "CLASSIFICATION", "CLASSIFIER", "CORRECTION", "DPO", "DRAFT", "EXPORT_KEYS",
    "GENERATE", "GROUNDED", "INSTRUCTION", "JUDGE", "LABELED_TEXT", "LABEL_SCORES", "MAX_REASON",
    "MAX_TEXT", "MULTILABEL", "PAIRWISE", "PAIRWISE_CHOICES", "PHRASES", "PRELABEL",
    "PROMPT_RESPONSE", "RATING", "REWARD", "REWRITE", "SFT", "SPAN", "TOKEN",
    "YES_NO_PER_LABEL", "KeyHelp", "TaskType", "agreement_units", "all",
    "check_labels", "choices", "clean_value", "describe", "draft_of", "export_row", "get",
    "import_row", "label_keys", "names", "same_value", "spans_json", "spec", "supporting",
    "text_of", "value_from_form", "vote_key",
]  # fmt: skip
