"""The interface every task type implements, and the helpers several of them share.

A task type is one module in this package holding one subclass of `TaskType`; the registry
(`registry.py`) lists one instance of each. Everything that differs between task types is a
method or attribute here, so callers ask the project's task type instead of branching on its
name. No Django models here: values in, values out.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.exceptions import ValidationError

Labels = list[dict[str, str]]

# Round kinds (what a round trains from these labels).
CLASSIFIER = "classifier"
SFT = "sft"
DPO = "dpo"
REWARD = "reward"

# Model jobs whose output is a label in a task type's shape (`TaskType.model_jobs`). Jobs that
# only score payloads (toxicity, judge scores, filters, noise) apply to every task type.
PRELABEL = "prelabel"
GENERATE = "generate"
JUDGE = "judge"

# How the LLM pre-labels (`TaskType.prelabel_method`); workers/jobs/prelabel.py implements each.
LABEL_SCORES = "label_scores"  # log-likelihood of each label, calibrated; routed
YES_NO_PER_LABEL = "yes_no_per_label"  # one calibrated yes/no question per label; routed
DRAFT = "draft"  # the LLM writes a response, a suggestion for people
PHRASES = "phrases"  # the LLM lists phrases per tag, found in the text as spans

# What a generation job writes for a task type (`TaskType.generation`); workers/jobs/generate.py
# implements each.
LABELED_TEXT = "labeled_text"  # a new text with the label it was written for
PROMPT_RESPONSE = "prompt_response"  # a new prompt with the LLM's response as its draft

# Generators (the `generator` param of generation jobs), offered per task type
# (`TaskType.generators`).
INSTRUCTION = "instruction"  # new examples written from a few seeds
REWRITE = "rewrite"  # a paraphrase of one seed
ADVERSARIAL = "adversarial"  # a minimal edit of a seed that flips its label
GROUNDED = "grounded"  # written from a passage of an uploaded document


@dataclass(frozen=True)
class KeyHelp:
    """One line of the labeling page's key help: the keys pressed together, and what they do."""

    keys: tuple[str, ...]
    action: str


def text_of(payload: Any, field: str) -> str:
    value = payload.get(field, "") if isinstance(payload, Mapping) else payload
    return value if isinstance(value, str) else ("" if value is None else str(value))


def draft_of(payload: Any) -> str:
    return text_of(payload, "draft")


def label_values(labels: Labels) -> list[str]:
    return [str(label["value"]) for label in labels]


def label_names(labels: Labels) -> dict[str, str]:
    return {str(label["value"]): label.get("name") or label["value"] for label in labels}


def label_keys(labels: Labels) -> list[dict[str, str]]:
    """Each label with the key that picks it: 1-9, then 0 for a tenth scale point."""
    keys = [str(n) for n in range(1, 10)] + ["0"]
    return [
        {"key": key, "value": str(label["value"]), "name": label.get("name") or label["value"]}
        for key, label in zip(keys, labels, strict=False)
    ]


def json_cell(value: Any) -> Any:
    """CSV cells carry lists and objects as JSON text; anything else is taken as it is."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        return json.loads(value)
    return value


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class TaskType(ABC):
    """What a label is for one kind of task: its shape, how it is checked, compared, counted,
    shown, exported and imported, and which rounds and model jobs use it."""

    # The value stored in Project.task_type; never change it once projects exist.
    name: ClassVar[str]
    title: ClassVar[str]
    # Krippendorff level of measurement for agreement; None where agreement is not computed.
    level: ClassVar[str | None] = "nominal"
    # Whether the project's labels are the choices (classes, tags, scale points), and how many.
    uses_labels: ClassVar[bool] = True
    min_labels: ClassVar[int] = 2
    max_labels: ClassVar[int] = 9  # one number key each
    # The payload fields a record needs (the first is the one embedded and judged). "text"
    # stands for the project's `text_field` setting.
    fields: ClassVar[tuple[str, ...]] = ("text",)
    # Round kinds that train on these labels ("classifier", "sft", "dpo", "reward").
    round_kinds: ClassVar[tuple[str, ...]] = ()
    # How the LLM pre-labels this task (a *_METHOD constant above), None where it does not.
    prelabel_method: ClassVar[str | None] = None
    # What generation jobs write for this task (LABELED_TEXT, PROMPT_RESPONSE; None: no
    # generation), and which generators apply.
    generation: ClassVar[str | None] = None
    generators: ClassVar[tuple[str, ...]] = ()
    # Whether the pairwise judge's verdicts are labels of this task (suggestions to people,
    # compared with people's choices).
    judge_labels: ClassVar[bool] = False
    # Multi-unit tasks: whether agreement is reported per unit (per label), whether its units
    # need the record's text, and whether one vote key per record is a category that
    # Dawid-Skene competence can be estimated from.
    agreement_per_unit: ClassVar[bool] = False
    agreement_needs_text: ClassVar[bool] = False
    record_votes_are_categories: ClassVar[bool] = True
    # The labeling form's field a choice is posted in; the review page's "settle" select too.
    form_field: ClassVar[str] = "label"
    # Shown instead of "Model suggests ..." where the suggestion pre-fills the form.
    suggestion_notice: ClassVar[str] = ""

    def chance_choices(self, labels: Labels) -> int:
        """How many options a model's single confidence is spread over (chance is 1/k), for
        telling a real suggestion from a guess; 0 where one confidence is no such share."""
        return len(labels) if self.uses_labels and self.record_votes_are_categories else 0

    # --- derived ----------------------------------------------------------------------------

    @property
    def trainable(self) -> bool:
        """A round can train a classifier on these labels."""
        return CLASSIFIER in self.round_kinds

    @property
    def model_jobs(self) -> frozenset[str]:
        """Model jobs that write labels of this task type (see PRELABEL, GENERATE, JUDGE)."""
        jobs = {PRELABEL} if self.prelabel_method else set()
        jobs |= {GENERATE} if self.generation and self.generators else set()
        jobs |= {JUDGE} if self.judge_labels else set()
        return frozenset(jobs)

    @property
    def card_template(self) -> str:
        """The labeling form's template: templates/annotation/tasks/<name>.html."""
        return f"annotation/tasks/{self.name}.html"

    def payload_fields(self, text_field: str = "text") -> tuple[str, ...]:
        """The payload keys a record of this task needs ("text" read as the project's field)."""
        return tuple(text_field if field == "text" else field for field in self.fields)

    def content_text(self, payload: Any, text_field: str = "text") -> str:
        """Everything a person reads in a record, for screens of the content (toxicity)."""
        texts = (text_of(payload, field) for field in self.payload_fields(text_field))
        return "\n\n".join(text for text in texts if text)

    def import_example(self, labels: Labels, text_field: str = "text") -> dict[str, Any]:
        """One line of an import file, labeled (the label may be left out): the hint on the
        import form, which a test imports for every task type."""
        values = label_values(labels)
        return {text_field: "The text people label", "label": values[0] if values else ""}

    # --- the project's labels ---------------------------------------------------------------

    def labels_in(self, value: Any) -> set[str]:
        """The project's label values a stored label uses: a label still in use is only
        removed from the project once an admin confirms."""
        return set() if value is None or not self.uses_labels else {str(value)}

    def check_labels(self, labels: Labels) -> None:
        """Task-specific rules on a project's label list (already normalised); ValidationError
        if it breaks them. The count is checked by the caller from min_labels/max_labels."""
        return None  # most task types have no rule beyond the count

    # --- reading a submission -------------------------------------------------------------

    def value_from_form(self, form: Mapping[str, Any]) -> Any:
        """The raw value a labeling form posted (a QueryDict or a dict), before validation."""
        return form.get(self.form_field)

    @abstractmethod
    def clean(self, labels: Labels, payload: Any, raw: Any, text_field: str = "text") -> Any:
        """Validate a submitted value and return it in its stored shape; ValidationError if
        bad. Values from the client never overrule what the record says (e.g. a draft)."""

    def import_label(self, labels: Labels, payload: Any, label: Any, text_field: str) -> Any:
        """An imported row's `label` in its stored shape; ValueError (with the label) if bad."""
        try:
            label = json_cell(label)
        except ValueError:
            raise ValueError(f"label {label[:40]!r} is not valid JSON") from None
        try:
            return self.clean(labels, payload, label, text_field)
        except ValidationError as error:
            raise ValueError(f"label {label!r}: {' '.join(error.messages)}") from None

    def suggestion_in_payload_accepted(self, payload: Any, value: Any) -> bool | None:
        """Where the record itself carries the model's suggestion (a draft): whether `value`
        accepts it. None where the suggestion, if any, is a separate annotation."""
        return None

    # --- comparing and counting -----------------------------------------------------------

    def vote_key(self, value: Any) -> str:
        """A string equal for two values that mean the same label: consensus votes on it."""
        return canonical_json(value)

    def same_value(self, a: Any, b: Any) -> bool:
        return self.vote_key(a) == self.vote_key(b)

    def agreement_units(self, labels: Labels, value: Any, text: str = "") -> list[tuple[str, Any]]:
        """(unit suffix, category) pairs one label contributes to agreement statistics."""
        return [("", self.vote_key(value))] if self.level is not None else []

    # --- curators' edits of generated items -----------------------------------------------

    def edited_payload(self, payload: Any, text: str, value: Any, text_field: str = "text") -> Any:
        """The payload of a generated item after a curator rewrote its text; `value` is the
        label the edited item will carry."""
        return {**payload, text_field: text}

    def edited_label(self, labels: Labels, payload: Any, text: str) -> Any | None:
        """Where the text a curator edits is the label itself (a response), the label their
        edit gives the item, which keeps its payload; None where an edit rewrites the payload
        into a new record (see edited_payload)."""
        return None

    # --- exporting and importing ----------------------------------------------------------

    @abstractmethod
    def export_row(self, payload: Any, value: Any, text_field: str = "text") -> dict[str, Any]:
        """The training-ready fields of one labeled record, in the shape its trainer expects."""

    @abstractmethod
    def import_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """The inverse of export_row (export keys already dropped): a payload with its `label`,
        so that exported files import again."""

    # Shapes a trainer reads (besides "full", every field export_row writes): shape name ->
    # the row's fields it keeps. A row missing one of them (None), e.g. a tie where a DPO pair
    # needs a chosen and a rejected response, is left out of that shape.
    export_shapes: ClassVar[dict[str, tuple[str, ...]]] = {}

    def manifest_label(self, row: dict[str, Any]) -> str:
        """What an export manifest counts an exported row under ("" where labels are not
        counted one by one)."""
        return ""

    def label_lookup(self, value: str) -> dict[str, Any] | None:
        """ORM lookups on an annotation's `value` that select labels carrying the project label
        `value` (the data manager's label filter); None where labels are not choices. Only
        lookups PostgreSQL and SQLite both run (no JSON containment on SQLite)."""
        return {"value": value} if self.uses_labels else None

    # --- showing --------------------------------------------------------------------------

    def describe(self, labels: Labels, value: Any) -> str:
        """A label as a person reads it: names, not codes. Never None."""
        return "" if value is None else str(label_names(labels).get(str(value), value))

    def key_help(self, labels: Labels) -> list[KeyHelp]:
        """The keys that label this task on the labeling page (the shared ones come after)."""
        return [KeyHelp((k["key"],), k["name"]) for k in label_keys(labels)]

    def card_context(
        self, payload: Any, text_field: str, current: Any, suggested: Any
    ) -> dict[str, Any]:
        """What card_template shows besides keys and suggestion: the record's fields and the
        form's starting state (`current`: the label being revised, else None; `suggested`: the
        model's suggestion, else None)."""
        return {"text": text_of(payload, text_field)}

    def settle_options(self, labels: Labels) -> list[tuple[str, str]]:
        """(value, name) a curator may settle a disagreement with on the review page, posted as
        form_field; empty where a curator adopts one of the labels instead."""
        return []
