"""One Form per labeling action: what each POST may carry, parsed and validated before a
service sees it. Whether a label fits the record is the task type's rule (checked by the
service); these check shape and type, as `curator/views/forms.py` does for curator pages."""

from __future__ import annotations

from typing import Any

from django import forms

from annotation import task_types
from annotation.models import MAX_SECONDS_SPENT, Assignment
from annotation.services.annotations import MAX_COMMENT


class LabelForm(forms.Form):
    """A label (submit or revise): the value in the task type's form fields, the seconds the
    card was open (from the page's timer; 0 or none: unknown) and the suggestion it showed."""

    # Django's FloatField refuses NaN and infinity; the bound keeps figures finite too.
    seconds = forms.FloatField(required=False, min_value=0, max_value=MAX_SECONDS_SPENT)
    suggestion = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args: Any, task_type: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task_type = task_type

    def clean_seconds(self) -> float | None:
        return self.cleaned_data["seconds"] or None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # The task type names its own fields (label, labels, spans, text, choice, ...).
        cleaned["value"] = task_types.value_from_form(self.task_type, self.data)
        return cleaned


class SkipForm(forms.Form):
    reason = forms.CharField(
        required=False, max_length=Assignment._meta.get_field("skip_reason").max_length
    )


class CommentForm(forms.Form):
    text = forms.CharField(required=False, max_length=MAX_COMMENT)
    flag = forms.BooleanField(required=False)
