"""What a label is, per task type: its shape, how it is checked, compared, counted and exported.

One place for every task-type rule, so the labeling page, the API, consensus, agreement and
exports agree on them. No Django models here: values in, values out.

Label values (Annotation.value) per task type:
- classification: "positive"                          (one label of the project)
- multilabel:     ["politics", "sports"]              (any subset, in the project's label order)
- rating:         4                                   (a point of the project's scale)
- pairwise:       {"choice": "a" | "b" | "tie", "reason": "..."}
- correction:     {"text": "...", "draft": "...", "edited": true}
- span:           [{"start": 0, "end": 5, "label": "PER", "text": "Alice"}, ...]
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

CLASSIFICATION = "classification"
MULTILABEL = "multilabel"
RATING = "rating"
PAIRWISE = "pairwise"
CORRECTION = "correction"
SPAN = "span"

PAIRWISE_CHOICES = ("a", "b", "tie")
MAX_REASON = 2000
MAX_TEXT = 20000
TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    title: str
    # Krippendorff level of measurement for agreement; None where agreement is not defined.
    level: str | None
    # Whether the project's labels are the choices (tags, classes, scale points).
    uses_labels: bool
    # The payload fields a record of this task needs (the first is the one embedded and judged).
    fields: tuple[str, ...]
    # A round can train a classifier on these labels.
    trainable: bool


SPECS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(CLASSIFICATION, "Single-label classification", "nominal", True, ("text",), True),
        TaskSpec(MULTILABEL, "Multi-label classification", "nominal", True, ("text",), False),
        TaskSpec(RATING, "Rating on a scale", "ordinal", True, ("text",), True),
        TaskSpec(
            PAIRWISE,
            "Pairwise preference",
            "nominal",
            False,
            ("prompt", "response_a", "response_b"),
            False,
        ),
        TaskSpec(CORRECTION, "Response writing / correction", None, False, ("prompt",), False),
        TaskSpec(SPAN, "Span labeling", "nominal", True, ("text",), False),
    )
}


def spec(task_type: str) -> TaskSpec:
    try:
        return SPECS[task_type]
    except KeyError:
        raise ValidationError(f"unknown task type {task_type!r}") from None


def check_labels(task_type: str, labels: list[dict[str, str]]) -> None:
    """Task-specific rules on a project's label list (already normalised)."""
    if task_type == RATING:
        try:
            points = [int(label["value"]) for label in labels]
        except ValueError:
            raise ValidationError("a rating scale's values must be whole numbers") from None
        if points != sorted(points) or len(set(points)) != len(points):
            raise ValidationError("a rating scale's values must increase, e.g. 1, 2, 3, 4, 5")


def text_of(payload: Any, field: str) -> str:
    value = payload.get(field, "") if isinstance(payload, Mapping) else payload
    return value if isinstance(value, str) else ("" if value is None else str(value))


def draft_of(payload: Any) -> str:
    return text_of(payload, "draft")


# --- reading a submission -------------------------------------------------------------------


def value_from_form(task_type: str, form: Mapping[str, Any]) -> Any:
    """The raw value a labeling form posted (a QueryDict or a dict), before validation."""
    if task_type == MULTILABEL:
        getlist = getattr(form, "getlist", None)
        return getlist("labels") if getlist else form.get("labels", [])
    if task_type == RATING:
        return form.get("rating")
    if task_type == PAIRWISE:
        return {"choice": form.get("choice"), "reason": form.get("reason", "")}
    if task_type == CORRECTION:
        return {"text": form.get("text")}
    if task_type == SPAN:
        raw = form.get("spans") or "[]"
        try:
            return json.loads(raw)
        except (TypeError, ValueError):
            raise ValidationError("spans must be a JSON list of {start, end, label}") from None
    return form.get("label")


def clean_value(
    task_type: str, labels: list[dict[str, str]], payload: Any, raw: Any, text_field: str = "text"
) -> Any:
    """Validate a submitted value and return it in its stored shape; ValidationError if bad."""
    values = [str(label["value"]) for label in labels]
    if task_type == CLASSIFICATION:
        label = "" if raw is None else str(raw)
        if label not in values:
            raise ValidationError(
                f"{label!r} is not a label of this project; use one of: " + ", ".join(values)
            )
        return label
    if task_type == MULTILABEL:
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list | tuple):
            raise ValidationError("multi-label values are a list of labels")
        chosen = {str(item) for item in raw}
        unknown = sorted(chosen - set(values))
        if unknown:
            raise ValidationError(f"not labels of this project: {', '.join(unknown)}")
        return [value for value in values if value in chosen]
    if task_type == RATING:
        try:
            point = int(str(raw).strip())
        except (TypeError, ValueError):
            raise ValidationError(f"a rating is one of {', '.join(values)}") from None
        if str(point) not in values:
            raise ValidationError(f"a rating is one of {', '.join(values)}")
        return point
    if task_type == PAIRWISE:
        raw = raw if isinstance(raw, Mapping) else {"choice": raw}
        choice = str(raw.get("choice") or "").lower()
        if choice not in PAIRWISE_CHOICES:
            raise ValidationError("a preference is a, b or tie")
        reason = str(raw.get("reason") or "").strip()
        if len(reason) > MAX_REASON:
            raise ValidationError(f"a reason is at most {MAX_REASON} characters")
        return {"choice": choice, "reason": reason}
    if task_type == CORRECTION:
        raw = raw if isinstance(raw, Mapping) else {"text": raw}
        text = raw.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("the response must not be empty")
        text = text.replace("\r\n", "\n")
        if len(text) > MAX_TEXT:
            raise ValidationError(f"a response is at most {MAX_TEXT} characters")
        # The draft comes from the record, never from the client: it is what the model wrote.
        draft = draft_of(payload)
        return {"text": text, "draft": draft, "edited": text.strip() != draft.strip()}
    if task_type == SPAN:
        return _clean_spans(values, text_of(payload, text_field), raw)
    raise ValidationError(f"unknown task type {task_type!r}")


def _clean_spans(values: list[str], text: str, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise ValidationError("spans must be a list of {start, end, label}")
    spans = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise ValidationError("each span is an object {start, end, label}")
        try:
            start, end = int(item.get("start")), int(item.get("end"))
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
                f"spans {before['start']}-{before['end']} and {after['start']}-{after['end']} "
                "overlap"
            )
    return spans


# --- comparing and counting -----------------------------------------------------------------


def vote_key(task_type: str, value: Any) -> str:
    """A string equal for two values that mean the same label: consensus votes on it."""
    if task_type == CLASSIFICATION:
        return str(value)
    if task_type == RATING:
        return str(value)
    if task_type == PAIRWISE:
        return str(value.get("choice")) if isinstance(value, Mapping) else str(value)
    if task_type == CORRECTION:
        return value.get("text", "").strip() if isinstance(value, Mapping) else str(value)
    if task_type == SPAN:
        return json.dumps(
            [(span["start"], span["end"], span["label"]) for span in value or []],
            separators=(",", ":"),
        )
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def same_value(task_type: str, a: Any, b: Any) -> bool:
    return vote_key(task_type, a) == vote_key(task_type, b)


def agreement_units(
    task_type: str, labels: list[dict[str, str]], value: Any, text: str = ""
) -> list[tuple[str, Any]]:
    """(unit suffix, category) pairs one label contributes to agreement statistics.

    Multi-label becomes one yes/no unit per label; spans one unit per whitespace token (its tag,
    or "O" outside every span); the other tasks one unit per record.
    """
    if task_type == MULTILABEL:
        chosen = set(value or [])
        return [(str(label["value"]), int(label["value"] in chosen)) for label in labels]
    if task_type == SPAN:
        units = []
        for index, token in enumerate(TOKEN.finditer(text)):
            tag = "O"
            for span in value or []:
                if span["start"] <= token.start() < span["end"]:
                    tag = span["label"]
                    break
            units.append((str(index), tag))
        return units
    if task_type == RATING:
        return [("", int(value))]
    if task_type in (CLASSIFICATION, PAIRWISE):
        return [("", vote_key(task_type, value))]
    return []


# --- exporting ------------------------------------------------------------------------------


def export_row(task_type: str, payload: Any, value: Any, text_field: str = "text") -> dict:
    """The training-ready fields of one labeled record, in the shape its trainer expects."""
    if task_type == PAIRWISE:
        choice = value.get("choice")
        a, b = text_of(payload, "response_a"), text_of(payload, "response_b")
        row = {
            "prompt": text_of(payload, "prompt"),
            "response_a": a,
            "response_b": b,
            "choice": choice,
            "reason": value["reason"],
        }
        if choice in ("a", "b"):
            row["chosen"], row["rejected"] = (a, b) if choice == "a" else (b, a)
        else:  # a tie says neither is better: no DPO pair, but kept for agreement and audits
            row["chosen"] = row["rejected"] = None
        return row
    if task_type == CORRECTION:
        prompt = text_of(payload, "prompt")
        return {
            "prompt": prompt,
            "response": value["text"],
            "draft": value.get("draft", ""),
            "edited": value.get("edited", True),
            "messages": [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": value["text"]},
            ],
        }
    text = text_of(payload, text_field)
    if task_type == MULTILABEL:
        return {"text": text, "labels": list(value)}
    if task_type == RATING:
        return {"text": text, "rating": int(value)}
    if task_type == SPAN:
        return {"text": text, "spans": list(value)}
    return {"text": text, "label": value}


# --- showing ----------------------------------------------------------------------------------


def label_keys(labels: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each label with the key that picks it: 1-9, then 0 for a tenth scale point."""
    keys = [str(n) for n in range(1, 10)] + ["0"]
    return [
        {"key": key, "value": str(label["value"]), "name": label.get("name") or label["value"]}
        for key, label in zip(keys, labels, strict=False)
    ]


def describe(task_type: str, labels: list[dict[str, str]], value: Any) -> str:
    """A label as a person reads it: names, not codes."""
    names = {str(label["value"]): label.get("name") or label["value"] for label in labels}
    if value is None:
        return ""
    if task_type == MULTILABEL:
        return ", ".join(names.get(v, v) for v in value) or "(none apply)"
    if task_type == PAIRWISE and isinstance(value, Mapping):
        choice = {"a": "A is better", "b": "B is better", "tie": "Tie"}.get(value.get("choice"))
        return f"{choice}: {value['reason']}" if value.get("reason") else str(choice)
    if task_type == CORRECTION and isinstance(value, Mapping):
        text = value.get("text", "")
        edited = "edited" if value.get("edited", True) else "draft accepted"
        return f"({edited}) {text[:200]}{'…' if len(text) > 200 else ''}"
    if task_type == SPAN:
        return "; ".join(f"{s['text']} [{names.get(s['label'], s['label'])}]" for s in value) or (
            "(no spans)"
        )
    return str(names.get(str(value), value))


def spans_json(value: Any) -> str:
    return json.dumps(
        [{"start": s["start"], "end": s["end"], "label": s["label"]} for s in (value or [])]
    )


# Keys an export adds around the trainer's fields; an import of an export drops them.
EXPORT_KEYS = ("record_id", "split", "annotation_id", "label_source", "content_hash")


def import_row(task_type: str, row: dict[str, Any]) -> dict[str, Any]:
    """The inverse of export_row: an exported row back to a payload with its `label`, so that
    exported files import again."""
    row = {k: v for k, v in row.items() if k not in EXPORT_KEYS}

    def parsed(value: Any) -> Any:
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            return json.loads(value)
        return value

    if task_type == PAIRWISE:
        payload = {k: row[k] for k in ("prompt", "response_a", "response_b") if k in row}
        return {
            **payload,
            "label": {"choice": row.get("choice"), "reason": row.get("reason") or ""},
        }
    if task_type == CORRECTION:
        payload = {"prompt": row.get("prompt", "")}
        if row.get("draft"):
            payload["draft"] = row["draft"]
        return {**payload, "label": {"text": row.get("response", "")}}
    if task_type == MULTILABEL:
        return {"text": row.get("text", ""), "label": parsed(row.get("labels", []))}
    if task_type == RATING:
        return {"text": row.get("text", ""), "label": row.get("rating")}
    if task_type == SPAN:
        spans = parsed(row.get("spans", []))
        return {"text": row.get("text", ""), "label": spans}
    return row
