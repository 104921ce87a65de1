"""Gates a round must pass before it trains. Each is a project setting (None or False: off);
a failing gate stops the round with its name and reason, shown on the round page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annotation import task_types
from annotation.agreement import agreement_report
from annotation.selectors import ratings_of
from curator.algorithms import curation
from curator.models import Project, Record, Round, Split
from curator.models.records import payload_text
from curator.selectors import routing_stats


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    reason: str
    evidence: dict[str, Any]


def agreement_gate(
    project: Project, minimum: float | None, current: Round | None = None
) -> GateResult | None:
    """Krippendorff's alpha on the labels given since the round before `current` (the round
    being checked; None: since the latest round)."""
    if minimum is None or task_types.spec(project.task_type).level is None:
        return None
    earlier = Round.objects.filter(project=project)
    if current is not None:
        earlier = earlier.filter(number__lt=current.number)
    last = earlier.order_by("-number").first()
    report = agreement_report(
        ratings_of(project, since=last.created_at if last else None),
        task_types.spec(project.task_type).level or "nominal",
    )
    if report.alpha is None:
        return GateResult(
            "agreement", True, "no record has two annotators since the last round", {}
        )
    passed = report.alpha >= minimum
    return GateResult(
        "agreement",
        passed,
        f"Krippendorff's alpha {report.alpha:.3f} on {report.units} new unit(s) is "
        f"{'at least' if passed else 'below'} {minimum}",
        {"alpha": report.alpha, "units": report.units},
    )


def spot_check_gate(project: Project, minimum: float | None) -> GateResult | None:
    """Accuracy of auto-accepted LLM labels, measured on the spot checks people labeled."""
    if minimum is None:
        return None
    stats = routing_stats(project)
    accuracy = stats["spot_check_accuracy"]
    if accuracy is None:
        return GateResult("spot_checks", True, "no spot check has been labeled yet", {})
    passed = accuracy >= minimum
    return GateResult(
        "spot_checks",
        passed,
        f"auto-accepted LLM labels are {accuracy:.3f} accurate on {stats['spot_checked']} "
        f"spot check(s), {'at least' if passed else 'below'} {minimum}",
        {"accuracy": accuracy, "checked": stats["spot_checked"]},
    )


def contamination_gate(
    project: Project, train_ids: list[int], enabled: bool, threshold: float = 0.8
) -> GateResult | None:
    """Training records that are exact or near duplicates of gold records would inflate the
    gold metrics: the round does not train on them."""
    if not enabled:
        return None
    # Label-set projects compare their text field; prompt/response projects their prompts.
    fields = task_types.spec(project.task_type).fields
    field = project.settings_obj.text_field if fields[0] == "text" else fields[0]
    gold = list(
        Record.objects.filter(project=project, split=Split.GOLD).values_list("id", "payload")
    )
    if not gold or not train_ids:
        return GateResult("contamination", True, "nothing to compare", {})
    train = list(Record.objects.filter(pk__in=train_ids).values_list("id", "payload"))
    ids = [pk for pk, _ in gold] + [pk for pk, _ in train]
    texts = [payload_text(p, field) for _, p in gold] + [payload_text(p, field) for _, p in train]
    gold_ids = {pk for pk, _ in gold}
    # Exact copies are near copies too: each (training, gold) pair counts once.
    hits = list(
        dict.fromkeys(
            (ids[drop.index], drop.evidence["duplicate_of"])
            for drop in curation.exact_duplicates(texts, ids)
            + curation.near_duplicates(texts, ids, threshold=threshold)
            if ids[drop.index] not in gold_ids and drop.evidence.get("duplicate_of") in gold_ids
        )
    )
    if not hits:
        return GateResult("contamination", True, "no training record duplicates a gold one", {})
    examples = ", ".join(f"#{t} ~ gold #{g}" for t, g in hits[:5])
    return GateResult(
        "contamination",
        False,
        f"{len(hits)} training record(s) duplicate gold records ({examples}); remove them "
        "(a filter run) or take them out of gold",
        {"pairs": hits[:100]},
    )


def gates_check(round_: Round) -> list[GateResult]:
    """Every gate switched on in the project's settings, on this round's frozen snapshot."""
    project = round_.project
    train_ids = list(round_.snapshot_items.values_list("record_id", flat=True))
    results = (
        agreement_gate(project, project.setting("gate_min_agreement"), current=round_),
        spot_check_gate(project, project.setting("gate_min_spot_check_accuracy")),
        contamination_gate(project, train_ids, bool(project.setting("gate_contamination"))),
    )
    return [result for result in results if result is not None]
