"""One Form per HTML action: what each POST may carry, parsed and validated before a service
sees it. The rules of the domain stay in the services; these check shape and type."""

from __future__ import annotations

from typing import Any

from django import forms

from annotation import task_types
from curator.job_kinds.self_reward import MAX_CANDIDATES, MAX_PROMPTS, RANKERS
from curator.models import Project, Role, Split
from curator.models.records import BATCH_SCORE_KINDS
from curator.services.curation import DECISIONS


def errors_text(form: forms.Form) -> str:
    """A form's errors as one sentence for a message: "count: Enter a whole number." """
    return " ".join(
        f"{name}: {' '.join(messages)}" if name != "__all__" else " ".join(messages)
        for name, messages in form.errors.items()
    )


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200, error_messages={"required": "give the project a name"})
    task_type = forms.CharField(max_length=32)  # the service names the known types
    # One label per line, "value|name".
    labels = forms.CharField(required=False, strip=False)
    guidelines = forms.CharField(required=False)


class ProjectEditForm(forms.Form):
    name = forms.CharField(max_length=200, error_messages={"required": "give the project a name"})
    description = forms.CharField(required=False)
    guidelines = forms.CharField(required=False)
    labels = forms.CharField(required=False, strip=False)  # one per line, "value|name"
    # Set by the admin after the page explained what removing a label in use means.
    confirm_removal = forms.BooleanField(required=False)


class InviteForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    project = forms.ModelChoiceField(queryset=Project.objects.none(), required=False)
    role = forms.ChoiceField(choices=Role.choices, required=False)

    def __init__(self, *args, projects: list[Project], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only projects the inviting person manages.
        self.fields["project"].queryset = Project.objects.filter(pk__in=[p.pk for p in projects])


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.CharField(max_length=16)  # membership_set names the roles when refusing one


class ImportForm(forms.Form):
    file = forms.FileField(error_messages={"required": "Choose a JSONL or CSV file to import."})
    split = forms.ChoiceField(choices=Split.choices, required=False)

    def clean_split(self) -> str:
        return self.cleaned_data["split"] or Split.POOL


class GenerateForm(forms.Form):
    generator = forms.CharField(max_length=40)
    count = forms.IntegerField(
        required=False, min_value=1, error_messages={"invalid": "count must be a whole number."}
    )
    labels = forms.MultipleChoiceField(required=False, choices=())

    def __init__(self, *args, label_values: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["labels"].choices = [(value, value) for value in label_values]


class SelfRewardForm(forms.Form):
    limit = forms.IntegerField(min_value=1, max_value=MAX_PROMPTS, initial=20)
    n = forms.IntegerField(min_value=2, max_value=MAX_CANDIDATES, initial=4)
    ranker = forms.ChoiceField(choices=[(r, r) for r in RANKERS], initial="judge")


class ItemDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[(d, d) for d in DECISIONS])
    reason = forms.CharField(required=False, max_length=300)
    text = forms.CharField(required=False, strip=False)
    label = forms.CharField(required=False, max_length=200)


class BulkDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "approve"), ("reject", "reject")])
    threshold = forms.FloatField()
    # The score compared with the threshold: judge quality unless the page says otherwise.
    kind = forms.ChoiceField(choices=[(k, k) for k in BATCH_SCORE_KINDS], required=False)


class AdjudicateForm(forms.Form):
    """A curator settles a record: by adopting one of its labels, or with the settle control's
    value (read by the task type from its own form field)."""

    adopt = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args: Any, task_type: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task_type = task_type

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("adopt") is None:
            cleaned["value"] = task_types.value_from_form(self.task_type, self.data)
        else:
            cleaned["value"] = None  # the adopted label is the value
        return cleaned
