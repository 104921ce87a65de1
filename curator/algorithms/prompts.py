"""Prompt templates for labeling with an LLM. Projects may override the text of each part.

Templates use `{name}` placeholders filled with str.format-style substitution of known names
only; record text is inserted as data, never as template syntax.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

# A chat conversation as OpenAI-compatible servers and chat templates take it.
Messages = list[dict[str, str]]


DEFAULT_SYSTEM = (
    "You are a careful data annotator.\n{guidelines}\n"
    "Answer with exactly one label from this list: {labels}."
)
DEFAULT_USER = "Text: {text}\nLabel:"
MAX_TEXT_CHARS = 1500


@dataclass(frozen=True)
class Example:
    text: str
    label: str


def fill(template: str, **values: str) -> str:
    """Substitute known `{name}` fields; unknown braces stay as written."""
    formatter = string.Formatter()
    out = []
    for literal, field, _spec, _conversion in formatter.parse(template):
        out.append(literal)
        if field is not None:
            out.append(values[field] if field in values else "{" + field + "}")
    return "".join(out)


def classification_messages(
    text: str,
    *,
    label_names: Sequence[str],
    guidelines: str = "",
    examples: Sequence[Example] = (),
    system_template: str = DEFAULT_SYSTEM,
    user_template: str = DEFAULT_USER,
) -> Messages:
    """System instruction, few-shot turns from human labels, then the text to label."""
    system = fill(system_template, guidelines=guidelines.strip(), labels=", ".join(label_names))
    messages: Messages = [{"role": "system", "content": system}]
    for example in examples:
        messages.append(
            {"role": "user", "content": fill(user_template, text=example.text[:MAX_TEXT_CHARS])}
        )
        messages.append({"role": "assistant", "content": example.label})
    messages.append({"role": "user", "content": fill(user_template, text=text[:MAX_TEXT_CHARS])})
    return messages


def parse_label(reply: str, label_names: Sequence[str]) -> int | None:
    """Index of the label a free-text reply names, or None: replies never invent labels."""
    cleaned = reply.strip().strip(".!\"'`*").lower()
    for index, name in enumerate(label_names):
        if cleaned == name.lower():
            return index
    starts = [i for i, name in enumerate(label_names) if cleaned.startswith(name.lower())]
    return starts[0] if len(starts) == 1 else None
