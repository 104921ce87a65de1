"""Pairwise preference: which of two responses to a prompt is better, with an optional reason.

Value: {"choice": "a" | "b" | "tie", "reason": "..."}. Exported as DPO pairs (prompt, chosen,
rejected); a tie has no pair. The LLM does not pre-label it: the judge's verdicts are the
suggestions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from annotation.task_types.base import DPO, REWARD, KeyHelp, Labels, TaskType, text_of

CHOICES = ("a", "b", "tie")
CHOICE_NAMES = {"a": "A is better", "b": "B is better", "tie": "Tie"}
MAX_REASON = 2000


class Pairwise(TaskType):
    name = "pairwise"
    title = "Pairwise preference"
    uses_labels = False
    fields = ("prompt", "response_a", "response_b")
    round_kinds = (DPO, REWARD)
    judge_labels = True
    form_field = "choice"
    # Ties have no chosen response: the DPO shape leaves them out.
    export_shapes = {"dpo": ("prompt", "chosen", "rejected")}

    def chance_choices(self, labels: Labels) -> int:
        return 2  # a judge's confidence is that of A over B; a tie is its 0.5

    def label_lookup(self, value: str) -> dict[str, Any] | None:
        return {"value__choice": value}  # "a", "b" or "tie"

    def import_example(self, labels: Labels, text_field: str = "text") -> dict[str, Any]:
        return {
            "prompt": "How do I boil an egg?",
            "response_a": "Simmer it for 9 minutes, then cool it in cold water.",
            "response_b": "Eggs are laid by hens.",
            "label": {"choice": "a", "reason": "A answers the question"},
        }

    def value_from_form(self, form: Mapping[str, Any]) -> Any:
        return {"choice": form.get("choice"), "reason": form.get("reason", "")}

    def clean(
        self, labels: Labels, payload: Any, raw: Any, text_field: str = "text"
    ) -> dict[str, str]:
        raw = raw if isinstance(raw, Mapping) else {"choice": raw}
        choice = str(raw.get("choice") or "").lower()
        if choice not in CHOICES:
            raise ValidationError("a preference is a, b or tie")
        reason = str(raw.get("reason") or "").strip()
        if len(reason) > MAX_REASON:
            raise ValidationError(f"a reason is at most {MAX_REASON} characters")
        return {"choice": choice, "reason": reason}

    def edited_payload(self, payload: Any, text: str, value: Any, text_field: str = "text") -> Any:
        # What a curator rewrites in a pair is the answer it teaches: the chosen response.
        choice = value.get("choice") if isinstance(value, Mapping) else value
        if choice not in ("a", "b"):
            raise ValidationError("a tie has no chosen response to edit: choose A or B")
        return {**payload, f"response_{choice}": text}

    def vote_key(self, value: Any) -> str:
        # The reason explains a choice; two people who chose alike agree.
        return str(value.get("choice")) if isinstance(value, Mapping) else str(value)

    def export_row(self, payload: Any, value: Any, text_field: str = "text") -> dict[str, Any]:
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

    def import_row(self, row: dict[str, Any]) -> dict[str, Any]:
        payload = {k: row[k] for k in self.fields if k in row}
        return {
            **payload,
            "label": {"choice": row.get("choice"), "reason": row.get("reason") or ""},
        }

    def manifest_label(self, row: dict[str, Any]) -> str:
        return str(row["choice"])

    def describe(self, labels: Labels, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, Mapping):
            return str(value)
        choice = CHOICE_NAMES.get(str(value.get("choice")))
        return f"{choice}: {value['reason']}" if value.get("reason") else str(choice)

    def key_help(self, labels: Labels) -> list[KeyHelp]:
        return [
            KeyHelp(("A",), "A is better"),
            KeyHelp(("B",), "B is better"),
            KeyHelp(("T",), "tie"),
            KeyHelp(("R",), "write a reason first"),
        ]

    def card_context(
        self, payload: Any, text_field: str, current: Any, suggested: Any
    ) -> dict[str, Any]:
        return {
            "prompt": text_of(payload, "prompt"),
            "response_a": text_of(payload, "response_a"),
            "response_b": text_of(payload, "response_b"),
        }

    def settle_options(self, labels: Labels) -> list[tuple[str, str]]:
        return list(CHOICE_NAMES.items())
