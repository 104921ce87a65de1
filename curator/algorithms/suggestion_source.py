"""Which model's label annotators are offered: the round classifier's or the LLM's.

Both are measured on labels people gave: the classifier on gold (held out from its training),
the LLM on spot checks (confident labels people labeled anyway). The better measured source is
offered; a source with no measurement never displaces one that has it, and with neither measured
the LLM keeps its place (its labels were there first).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceChoice:
    classifier: bool  # whether the round classifier's predictions are offered
    why: str


def suggestion_source(
    classifier_gold_accuracy: float | None,
    gold_size: int,
    llm_spot_check_accuracy: float | None,
    spot_checked: int,
) -> SourceChoice:
    """Offer the classifier's prediction where its gold accuracy beats the LLM's spot-check
    accuracy (or the LLM was never checked); never on an unmeasured classifier."""
    if classifier_gold_accuracy is None or gold_size == 0:
        return SourceChoice(False, "the classifier has no gold accuracy to judge it by")
    measured = f"gold accuracy {classifier_gold_accuracy:.2f} on {gold_size} records"
    if llm_spot_check_accuracy is None or spot_checked == 0:
        return SourceChoice(True, f"{measured}; the LLM has no spot checks yet")
    checked = f"the LLM's spot-check accuracy {llm_spot_check_accuracy:.2f} on {spot_checked}"
    if classifier_gold_accuracy > llm_spot_check_accuracy:
        return SourceChoice(True, f"{measured} beats {checked}")
    return SourceChoice(False, f"{measured} does not beat {checked}")
