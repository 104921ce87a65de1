"""How a pre-label job will route, decided once in its plan: the pool weights of the signals and
the auto-accept threshold, from evidence people provided.

Evidence is (confidence, right) of model labels people also labeled: a sample of people's labels
re-scored now with the current signals (the LLM, and the latest round's classifier out of fold),
and earlier jobs' routed records that people labeled since (spot checks, records sent to them).
The threshold is the lowest that keeps the checked precision at the project's target
(`routing.choose_threshold`); spot checks of auto-accepted labels measured below the target stop
auto-accepting (`routing.backoff`). A fixed threshold (job parameter or project setting) skips
the choice but not the measurement, which the job card still shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from curator.algorithms import routing
from curator.models import Project, Record, RoutingDecision
from curator.models.records import payload_text
from curator.selectors import routing_checked
from workers.jobs import routing_signals

# Labeled routing decisions of earlier jobs read as evidence; the latest spot checks whose
# precision decides whether to back off.
EARLIER_EVIDENCE = 2000
SPOT_CHECK_WINDOW = 200

Score = Callable[[list[str]], np.ndarray]


def _measured(
    project: Project, params: dict[str, Any], score: Score, exclude: set[int]
) -> tuple[dict[str, Any], list[tuple[float, bool]]]:
    """Re-score a sample of people's labels with the signals; fit the pool weights on it."""
    field = project.settings_obj.text_field
    shots = {example["text"] for example in params.get("examples", [])}
    sample = routing_signals.people_labeled_sample(
        project, int(params["routing_evidence_size"] or 0), int(params["seed"]), exclude
    )
    payloads = dict(
        Record.objects.filter(pk__in=[pk for pk, _ in sample]).values_list("id", "payload")
    )
    # A few-shot example is in the prompt: the LLM would be graded on its own answer key.
    sample = [(pk, label) for pk, label in sample if payload_text(payloads[pk], field) not in shots]
    keys = routing_signals.label_keys(project)
    sample = [(pk, label) for pk, label in sample if label in keys]
    if not sample:
        return {"weights": [1.0, 1.0], "classifier_round": None, "measured": 0}, []
    ids = [pk for pk, _ in sample]
    truth = np.array([keys.index(label) for _, label in sample])
    llm_p = score([payload_text(payloads[pk], field) for pk in ids])
    signal = routing_signals.classifier_signal(project)
    classifier_p = (
        routing_signals.honest_classifier_probabilities(signal, project, ids) if signal else None
    )
    weights = routing.fit_weights(llm_p, classifier_p, truth)
    pooled = routing.pooled_labels(llm_p, classifier_p, weights)
    evidence = [
        (float(confidence), bool(label == true))
        for confidence, label, true, agree in zip(
            pooled.confidence, pooled.labels, truth, pooled.agree, strict=True
        )
        # Where agreement is required, a disagreeing label is never auto-accepted: it is no
        # evidence about the threshold.
        if agree or not params.get("routing_require_agreement")
    ]
    summary = {
        "weights": list(weights),
        "classifier_round": signal.round_number if signal else None,
        "measured": len(sample),
        "llm_accuracy": float((llm_p.argmax(axis=1) == truth).mean()),
        "classifier_accuracy": (
            float((classifier_p.argmax(axis=1) == truth).mean())
            if classifier_p is not None
            else None
        ),
        "pooled_accuracy": float((pooled.labels == truth).mean()),
    }
    return summary, evidence


def routing_plan(project: Project, params: dict[str, Any], score: Score | None) -> dict[str, Any]:
    """The job's routing: pool weights, classifier round, threshold and why. `score` gives the
    LLM's calibrated label probabilities of texts; None for methods routed on the LLM alone."""
    target = float(params["routing_target_precision"])
    earlier = routing_checked(
        project,
        (RoutingDecision.Decision.SPOT_CHECK, RoutingDecision.Decision.HUMAN),
        EARLIER_EVIDENCE,
    )
    plan: dict[str, Any] = {"weights": [1.0, 1.0], "classifier_round": None, "measured": 0}
    evidence: list[tuple[float, bool]] = []
    if score is not None:
        plan, evidence = _measured(project, params, score, {pk for pk, _, _ in earlier})
    evidence += [(confidence, right) for _, confidence, right in earlier]
    choice = routing.choose_threshold([c for c, _ in evidence], [r for _, r in evidence], target)
    plan.update(target=target, evidence=len(evidence), choice=choice.as_dict())
    fixed = params.get("auto_accept_threshold")
    spot = routing_checked(project, (RoutingDecision.Decision.SPOT_CHECK,), SPOT_CHECK_WINDOW)
    stop = routing.backoff(sum(right for _, _, right in spot), len(spot), target)
    if fixed is not None:
        plan.update(threshold=float(fixed), reason=f"fixed at {float(fixed)}")
    elif stop:
        plan.update(threshold=None, reason=stop, backoff=True)
    else:
        plan.update(threshold=choice.threshold, reason=choice.reason)
    return plan
