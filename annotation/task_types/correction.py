"""Response writing / correction: a person writes the response a prompt should get, or corrects
the model's draft (the record's `draft` field, or one the LLM pre-labeler wrote).

Value: {"text": "...", "draft": "...", "edited": true}. Exported for SFT (prompt, response,
messages). Free text: agreement is read in review, not computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from annotation.task_types.base import (
    DRAFT,
    INSTRUCTION,
    PROMPT_RESPONSE,
    REWRITE,
    SFT,
    KeyHelp,
    Labels,
    TaskType,
    draft_of,
    text_of,
)

MAX_TEXT = 20000
PREVIEW = 200


class Correction(TaskType):
    name = "correction"
    title = "Response writing / correction"
    level = None
    uses_labels = False
    fields = ("prompt",)
    round_kinds = (SFT,)
    prelabel_method = DRAFT
    # Generated instruction items: a new prompt (from a few seed prompts, or a paraphrase of
    # one) with the LLM's response as its draft; approved, they train the next SFT round.
    generation = PROMPT_RESPONSE
    generators = (INSTRUCTION, REWRITE)
    record_votes_are_categories = False
    form_field = "text"
    export_shapes = {"sft_messages": ("messages",), "prompt_response": ("prompt", "response")}

    def label_lookup(self, value: str) -> dict[str, Any] | None:
        return None  # a free text, not a choice

    suggestion_notice = (
        "The box holds a draft the LLM wrote: correct it, or submit it unchanged to accept it."
    )

    def import_example(self, labels: Labels, text_field: str = "text") -> dict[str, Any]:
        return {
            "prompt": "Summarise: the meeting moved to Friday.",
            "draft": "The meeting is on Monday.",
            "label": "The meeting moved to Friday.",
        }

    def value_from_form(self, form: Mapping[str, Any]) -> Any:
        return {"text": form.get("text")}

    def clean(self, labels: Labels, payload: Any, raw: Any, text_field: str = "text") -> Any:
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

    def suggestion_in_payload_accepted(self, payload: Any, value: Any) -> bool | None:
        # The draft is the model's suggestion: submitting it unedited accepts it.
        return not value["edited"] if draft_of(payload) else None

    def edited_label(self, labels: Labels, payload: Any, text: str) -> Any:
        # The curator corrects the generated response: the record keeps the model's draft,
        # the label holds their response (edited: true), as when an annotator corrects one.
        return self.clean(labels, payload, {"text": text})

    def vote_key(self, value: Any) -> str:
        return value.get("text", "").strip() if isinstance(value, Mapping) else str(value)

    def export_row(self, payload: Any, value: Any, text_field: str = "text") -> dict[str, Any]:
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

    def import_row(self, row: dict[str, Any]) -> dict[str, Any]:
        payload = {"prompt": row.get("prompt", "")}
        if row.get("draft"):
            payload["draft"] = row["draft"]
        return {**payload, "label": {"text": row.get("response", "")}}

    def describe(self, labels: Labels, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, Mapping):
            return str(value)
        text = value.get("text", "")
        edited = "edited" if value.get("edited", True) else "draft accepted"
        return f"({edited}) {text[:PREVIEW]}{'…' if len(text) > PREVIEW else ''}"

    def key_help(self, labels: Labels) -> list[KeyHelp]:
        return [
            KeyHelp(("Ctrl", "Enter"), "submit the response"),
            KeyHelp(("Esc",), "leave the text box"),
        ]

    def card_context(
        self, payload: Any, text_field: str, current: Any, suggested: Any
    ) -> dict[str, Any]:
        draft = draft_of(payload)
        # The box starts with the label being revised, the record's draft, or a draft the LLM
        # wrote for it.
        if isinstance(current, Mapping):
            start = current.get("text", "")
        elif not draft and isinstance(suggested, Mapping):
            start = suggested.get("text", "")
        else:
            start = draft
        return {"prompt": text_of(payload, "prompt"), "draft": draft, "correction_text": start}
