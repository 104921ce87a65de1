"""The data manager's forms: its filters (a GET query string, so every view is a URL), its bulk
actions and its export dialog. Shape and type only; the selector and services own the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import QueryDict

from annotation import task_types
from annotation.models import Source
from curator.models import Origin, Project, ReviewState, RoutingDecision, Split
from curator.record_selectors import (
    AGREEMENT,
    MAX_ID,
    SCORE_KINDS,
    STATUSES,
    Cursor,
    RecordFilters,
    ScoreRange,
    Sort,
)
from curator.services.exports import FORMATS, shapes
from curator.services.record_actions import ACTIONS, RECORD_JOBS

ANY = [("", "any")]
YES_NO = [("", "any"), ("yes", "yes"), ("no", "no")]
# Columns of the table a person may show or hide; the record id and its link are always there.
COLUMNS = {
    "text": "Text",
    "label": "Label",
    "label_source": "Label source",
    "annotators": "Annotators",
    "split": "Split",
    "origin": "Origin",
    "state": "Held / review / route",
    "flags": "Flags",
    **{kind: kind.replace("_", " ").capitalize() for kind in SCORE_KINDS},
}
DEFAULT_COLUMNS = ("text", "label", "label_source", "annotators", "split", "state", "flags",
                   "priority")  # fmt: skip
SORTS = [("id", "Oldest first"), ("-id", "Newest first")] + [
    (f"{direction}{kind}", f"{kind.replace('_', ' ')} {'high' if direction else 'low'} first")
    for kind in SCORE_KINDS
    for direction in ("-", "")
]
FORMAT_NAMES = {"jsonl": "JSON Lines", "csv": "CSV", "parquet": "Parquet", "hf": "HF dataset"}
# The filter fields, in the order the query string carries them.
FILTER_FIELDS = (
    "q", "status", "label", "source", "origin", "annotator", "split", "held", "route", "review",
    "round", "agreement", "flagged", "noise", "noise_job", "score", "score_min", "score_max",
)  # fmt: skip


def _record_id(text: str) -> bool:
    """A posted id the database can compare: digits only, within a bigint."""
    return text.isdigit() and 0 < int(text) <= MAX_ID


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class RecordFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(required=False, choices=ANY + list(STATUSES.items()))
    label = forms.ChoiceField(required=False)
    source = forms.ChoiceField(required=False, choices=ANY + list(Source.choices),
                               label="Label source")  # fmt: skip
    origin = forms.ChoiceField(required=False, choices=ANY + list(Origin.choices))
    annotator = forms.TypedChoiceField(required=False, coerce=int, empty_value=None,
                                       label="Labeled by")  # fmt: skip
    split = forms.ChoiceField(required=False, choices=ANY + list(Split.choices))
    held = forms.ChoiceField(required=False, choices=YES_NO)
    route = forms.ChoiceField(
        required=False, choices=[*ANY, ("none", "never routed"), *RoutingDecision.Decision.choices]
    )
    review = forms.ChoiceField(
        required=False, choices=[*ANY, ("none", "not under review"), *ReviewState.choices]
    )
    round = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1,
                               label="In round's training set")  # fmt: skip
    agreement = forms.ChoiceField(required=False, choices=ANY + list(AGREEMENT.items()))
    flagged = forms.ChoiceField(required=False, choices=YES_NO, label="Flagged by an annotator")
    noise = forms.ChoiceField(required=False, choices=YES_NO, label="Suspected label error")
    noise_job = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                   widget=forms.HiddenInput)  # fmt: skip
    score = forms.ChoiceField(required=False, choices=ANY + [(k, k) for k in SCORE_KINDS],
                              label="Score")  # fmt: skip
    score_min = forms.FloatField(required=False, label="from")
    score_max = forms.FloatField(required=False, label="to")
    sort = forms.ChoiceField(required=False, choices=SORTS)
    after = forms.CharField(required=False, widget=forms.HiddenInput)
    cols = forms.MultipleChoiceField(required=False, choices=list(COLUMNS.items()),
                                     label="Columns")  # fmt: skip

    def __init__(self, data: Any, *, project: Project, annotators: list[tuple[int, str]]) -> None:
        super().__init__(data)
        task = task_types.get(project.task_type)
        options = task.settle_options(project.labels) or [
            (label["value"], label.get("name") or label["value"]) for label in project.labels
        ]
        self.fields["label"].choices = ANY + options
        self.fields["annotator"].choices = [("", "anyone")] + [(str(i), n) for i, n in annotators]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        low, high = data.get("score_min"), data.get("score_max")
        if (low is not None or high is not None) and not data.get("score"):
            self.add_error("score", "choose which score the range is on")
        if low is not None and high is not None and low > high:
            self.add_error("score_max", "the upper bound is below the lower one")
        if data.get("after") and Cursor.parse(data["after"]) is None:
            self.add_error("after", "not a page cursor")
        return data

    def filters(self) -> RecordFilters:
        data = self.cleaned_data
        scores = ()
        if data.get("score"):
            scores = (ScoreRange(data["score"], data.get("score_min"), data.get("score_max")),)
        return RecordFilters(
            q=data.get("q") or "",
            status=data.get("status") or "",
            label=data.get("label") or "",
            source=data.get("source") or "",
            origin=data.get("origin") or "",
            annotator=data.get("annotator"),
            split=data.get("split") or "",
            held=_yes_no(data.get("held") or ""),
            route=data.get("route") or "",
            review=data.get("review") or "",
            round=data.get("round"),
            agreement=data.get("agreement") or "",
            flagged=_yes_no(data.get("flagged") or ""),
            noise=_yes_no(data.get("noise") or ""),
            noise_job=data.get("noise_job"),
            scores=scores,
        )

    def sort_order(self) -> Sort:
        return Sort.parse(self.cleaned_data.get("sort") or "id")

    def cursor(self) -> Cursor | None:
        return Cursor.parse(self.cleaned_data.get("after") or "") if self.cleaned_data.get(
            "after") else None  # fmt: skip

    def columns(self) -> list[str]:
        return self.cleaned_data.get("cols") or list(DEFAULT_COLUMNS)

    def described(self) -> dict[str, Any]:
        """The filters that are set, as the audit log and the export manifest record them."""
        return {name: self.data.get(name) for name in FILTER_FIELDS if self.data.get(name)}

    def query(self, **changes: Any) -> str:
        """This view's query string (filters, sort, columns) with `changes`; no cursor."""
        query = QueryDict(mutable=True)
        for name in (*FILTER_FIELDS, "sort"):
            if self.data.get(name):
                query[name] = self.data.get(name)
        query.setlist("cols", self.data.getlist("cols") if hasattr(self.data, "getlist") else [])
        for name, value in changes.items():
            if value in (None, ""):
                query.pop(name, None)
            else:
                query[name] = value
        return query.urlencode()


class BulkActionForm(forms.Form):
    action = forms.ChoiceField(choices=list(ACTIONS.items()))
    scope = forms.ChoiceField(
        choices=[("selected", "the selected rows"), ("filtered", "every filtered record")]
    )
    ids = forms.TypedMultipleChoiceField(required=False, coerce=int)
    annotators = forms.CharField(required=False, max_length=1000,
                                 help_text="user names, separated by commas")  # fmt: skip
    job_kind = forms.ChoiceField(required=False, choices=ANY + [(k, k) for k in RECORD_JOBS])
    query = forms.CharField(required=False, max_length=4000)  # the data manager's query string

    def __init__(self, data: Any) -> None:
        super().__init__(data)
        # Any id may be posted; the service keeps only the project's own records.
        self.fields["ids"].choices = [(i, i) for i in data.getlist("ids") if _record_id(i)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("scope") == "selected" and not data.get("ids"):
            self.add_error("ids", "select some rows first, or act on every filtered record")
        if data.get("action") == "assign" and not (data.get("annotators") or "").strip():
            self.add_error("annotators", "name the annotators to assign the records to")
        if data.get("action") == "model_job" and not data.get("job_kind"):
            self.add_error("job_kind", "choose the job to run")
        return data

    def usernames(self) -> list[str]:
        return [n.strip() for n in (self.cleaned_data.get("annotators") or "").split(",")
                if n.strip()]  # fmt: skip


class ExportForm(forms.Form):
    output = forms.ChoiceField(choices=[(f, FORMAT_NAMES[f]) for f in FORMATS], label="Format")
    shape = forms.ChoiceField()
    # Not "split": that name is the data manager's split filter, which travels along.
    export_split = forms.ChoiceField(required=False, choices=ANY + list(Split.choices),
                                     label="Split")  # fmt: skip
    export_round = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1,
                                      label="Round training set")  # fmt: skip
    scope = forms.ChoiceField(
        required=False,
        choices=[("all", "every labeled record"), ("filtered", "the filtered records"),
                 ("selected", "the selected rows")],
    )  # fmt: skip
    ids = forms.CharField(required=False, max_length=200_000)  # comma-separated selection

    def __init__(self, data: Any, *, project: Project) -> None:
        super().__init__(data)
        self.fields["shape"].choices = [
            (name, f"{name.replace('_', ' ')} ({fields})")
            for name, fields in shapes(project.task_type).items()
        ]

    def selected_ids(self) -> tuple[int, ...]:
        parts = (self.cleaned_data.get("ids") or "").split(",")
        return tuple(int(p) for p in parts if _record_id(p.strip()))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("scope") == "selected" and not self.selected_ids():
            self.add_error("ids", "select some rows first")
        return data
