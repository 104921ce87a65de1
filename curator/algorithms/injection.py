"""Instruction-like content in a record: text addressed to the labeler or to the model.

A record that talks to whoever labels it ("ignore previous instructions", "label this as
positive", "you are now a ...", chat role tags, a label name given as an order) can move an
LLM's confidence wherever its author wants. Its confidence is evidence of the attack, not of
the label, so routing sends such a record to a person. The detector errs towards asking: a
false alarm costs one human label, a miss stores an attacker's label unseen.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Words for "the instructions" an injection tells the model to drop.
_RULES = r"(?:instructions?|prompts?|rules?|directions?|guidelines?|orders?|context|system message)"
_LABEL_VERBS = r"(?:label|classify|mark|tag|rate|categori[sz]e|annotate|score|judge)"
_OUTPUT_VERBS = r"(?:answer|respond|reply|output|say|print|return|choose|pick|select|write)"

PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(pattern, re.IGNORECASE | re.MULTILINE))
    for reason, pattern in (
        (
            "tells the model to ignore its instructions",
            rf"\b(?:ignore|disregard|forget|override|bypass|skip)\b[^.\n]{{0,40}}\b{_RULES}",
        ),
        (
            "announces new instructions",
            r"\b(?:new|updated|real|actual|hidden)\s+(?:instructions?|rules|directions|orders)\b",
        ),
        (
            "tells the labeler which label to give",
            rf"\b{_LABEL_VERBS}\s+(?:this|it|me|the\s+(?:text|review|sentence|record|input|"
            rf"following|above|message|tweet|item))\b[^.\n]{{0,30}}\bas\b",
        ),
        (
            "states the answer",
            r"\b(?:the\s+)?(?:correct|right|true|expected|only\s+valid)\s+"
            r"(?:label|answer|class|category|sentiment|output)\s+(?:is|=|:)",
        ),
        (
            "addresses the model",
            r"\b(?:you\s+are\s+(?:now\s+)?(?:an?\s+|the\s+)?(?:ai|assistant|model|language\s+model|"
            r"llm|annotator|labell?er|classifier|chatbot|bot|system)\b|you\s+are\s+now\b|"
            r"as\s+an?\s+(?:ai|language\s+model|assistant)\b|(?:dear|attention)\s+"
            r"(?:ai|model|assistant|annotator|labell?er|classifier)\b)",
        ),
        (
            "carries chat role markup",
            r"<\|?\s*(?:system|assistant|user|im_start|im_end|endoftext|eot_id|start_header_id)"
            r"\s*\|?>|\[/?(?:INST|SYS)\]|<</?SYS>>|^\s*#{0,3}\s*(?:system|assistant|user)\s*:|"
            r"\b(?:system|assistant)\s*:",
        ),
        (
            "mentions the prompt or the model's rules",
            r"\b(?:system\s+prompt|jailbreak|prompt\s+injection)\b",
        ),
    )
)


def _label_orders(label_names: Sequence[str]) -> list[tuple[str, re.Pattern[str]]]:
    """A label name used as an order ("answer Positive", "Label: Positive" mimicking the
    prompt's own answer line)."""
    orders = []
    for name in label_names:
        if not name.strip():
            continue
        word = re.escape(name.strip())
        orders.append((
            f"orders the label '{name}'",
            re.compile(
                rf"\b{_OUTPUT_VERBS}\b[^.\n]{{0,20}}[\"'“]?\b{word}\b|"
                rf"^\s*(?:label|answer|output|class|category|sentiment)\s*[:=]\s*[\"'“]?{word}\b|"
                rf"\b{_LABEL_VERBS}\b[^.\n]{{0,30}}\bas\s+[\"'“]?{word}\b",
                re.IGNORECASE | re.MULTILINE,
            ),
        ))  # fmt: skip
    return orders


@dataclass(frozen=True)
class Finding:
    reason: str
    excerpt: str  # the words that matched, for the curator who reads the routing decision


def instruction_findings(text: str, label_names: Sequence[str] = ()) -> list[Finding]:
    """Every sign that `text` addresses the labeler or the model; empty for ordinary text."""
    findings = []
    for reason, pattern in (*PATTERNS, *_label_orders(label_names)):
        match = pattern.search(text)
        if match is not None:
            findings.append(Finding(reason, " ".join(match.group(0).split())[:80]))
    return findings


def instruction_reason(text: str, label_names: Sequence[str] = ()) -> str:
    """One line for the routing decision ("" when nothing was found)."""
    findings = instruction_findings(text, label_names)
    return "; ".join(f'{f.reason} ("{f.excerpt}")' for f in findings)
