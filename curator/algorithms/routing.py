"""Routing a model label past people: pool the signals, choose the threshold from evidence.

Two signals say how sure the machine is of a label: the calibrated LLM and the latest round's
classifier (its probabilities calibrated on out-of-fold predictions, see
`calibration.calibrated_classifier`). They are pooled log-linearly, p ∝ p_llm^a · p_clf^b, with
(a, b) fitted on labeled evidence by log loss, so a signal that carries nothing (a 135M LLM near
chance) gets a weight near zero instead of diluting the other (Genest & Zidek's logarithmic
opinion pool, with the weights learned as in temperature scaling).

The auto-accept threshold is not a constant: it is the lowest confidence at which the labels
checked by people (records labeled anyway, spot checks of earlier auto-accepts) are right at
least `target` of the time with the lower end of a Wilson interval, so a small lucky sample
does not open the gate. When spot checks of what was auto-accepted measure below the target,
the router stops auto-accepting (`backoff`). Pure numpy/scipy/statsmodels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from statsmodels.stats.proportion import proportion_confint

# Fewer checked labels above a threshold than this, and the interval says little either way.
MIN_SUPPORT = 30
# The two-sided level of the Wilson interval whose lower end must clear the target.
INTERVAL_LEVEL = 0.90
# The pool weights stay in a range where neither signal is sharpened beyond reason.
WEIGHT_BOUNDS = (0.0, 3.0)


@dataclass(frozen=True)
class Pooled:
    """Per record: the label index chosen, its pooled probability, and whether the signals
    agree on the top label (True where only one signal exists)."""

    labels: np.ndarray
    confidence: np.ndarray
    agree: np.ndarray


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold routing uses (None: auto-accept nothing) and the evidence behind it."""

    threshold: float | None
    checked: int  # labels with a person's answer above the threshold
    precision: float | None  # how many of those the model got right
    lower_bound: float | None  # the Wilson interval's lower end of that precision
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {
            "threshold": self.threshold,
            "checked": self.checked,
            "precision": self.precision,
            "lower_bound": self.lower_bound,
            "reason": self.reason,
        }


def wilson_interval(correct: int, total: int, level: float = INTERVAL_LEVEL) -> tuple[float, float]:
    """Two-sided Wilson score interval of a proportion (statsmodels)."""
    if total <= 0:
        return 0.0, 1.0
    low, high = proportion_confint(correct, total, alpha=1 - level, method="wilson")
    return float(low), float(high)


def pool(
    llm: np.ndarray | None, classifier: np.ndarray | None, weights: tuple[float, float] = (1, 1)
) -> np.ndarray:
    """Log-linear pool of two (n, k) probability matrices (either may be None)."""
    logs = []
    for probabilities, weight in zip((llm, classifier), weights, strict=True):
        if probabilities is not None:
            logs.append(weight * np.log(np.clip(probabilities, 1e-9, 1.0)))
    if not logs:
        raise ValueError("routing needs at least one signal")
    z = np.sum(logs, axis=0)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_weights(
    llm: np.ndarray | None, classifier: np.ndarray | None, truth: Sequence[int] | np.ndarray
) -> tuple[float, float]:
    """Pool weights (llm, classifier) minimising log loss on labeled evidence; (1, 1) when there
    is too little evidence to fit two numbers."""
    target = np.asarray(truth, dtype=int)
    if len(target) < MIN_SUPPORT or (llm is None and classifier is None):
        return 1.0, 1.0
    # An absent signal gets weight 0 (its weight would be unidentifiable).

    def loss(weights: np.ndarray) -> float:
        pooled = pool(llm, classifier, (float(weights[0]), float(weights[1])))
        return float(-np.log(np.clip(pooled[np.arange(len(target)), target], 1e-12, 1)).mean())

    fitted = minimize(loss, x0=np.ones(2), bounds=[WEIGHT_BOUNDS] * 2, method="L-BFGS-B")
    a, b = (float(w) for w in fitted.x)
    a, b = (a if llm is not None else 0.0), (b if classifier is not None else 0.0)
    if a + b < 1e-3:  # both signals worthless: keep a defined pool
        return 1.0, 1.0
    return round(a, 4), round(b, 4)


def pooled_labels(
    llm: np.ndarray | None,
    classifier: np.ndarray | None,
    weights: tuple[float, float] = (1, 1),
) -> Pooled:
    """The pooled label and confidence of each row, and whether the two signals agree."""
    pooled = pool(llm, classifier, weights)
    labels = pooled.argmax(axis=1)
    if llm is not None and classifier is not None:
        agree = llm.argmax(axis=1) == classifier.argmax(axis=1)
    else:
        agree = np.ones(len(labels), dtype=bool)
    return Pooled(labels, pooled.max(axis=1), agree)


def choose_threshold(
    confidence: Sequence[float],
    correct: Sequence[bool],
    target: float,
    *,
    min_support: int = MIN_SUPPORT,
    level: float = INTERVAL_LEVEL,
) -> ThresholdChoice:
    """The lowest confidence above which the checked labels are right at least `target` of the
    time, by the lower end of the Wilson interval, with at least `min_support` checked labels
    above it. None when no threshold qualifies: nothing is auto-accepted."""
    scores = np.asarray(confidence, dtype=float)
    right = np.asarray(correct, dtype=bool)
    if len(scores) < min_support:
        return ThresholdChoice(
            None, len(scores), None, None,
            f"{len(scores)} checked label(s); at least {min_support} are needed to choose",
        )  # fmt: skip
    order = np.argsort(-scores, kind="stable")
    scores, right = scores[order], right[order]
    hits = np.cumsum(right)
    best: ThresholdChoice | None = None
    for index in range(min_support - 1, len(scores)):
        # Cut only between distinct confidences: everything at the threshold is accepted.
        if index + 1 < len(scores) and scores[index + 1] == scores[index]:
            continue
        n, k = index + 1, int(hits[index])
        low, _ = wilson_interval(k, n, level)
        if low >= target:
            best = ThresholdChoice(
                float(scores[index]), n, k / n, low,
                f"{k}/{n} checked labels right at confidence ≥ {scores[index]:.3f} "
                f"(lower bound {low:.3f} ≥ target {target})",
            )  # fmt: skip
    if best is None:
        n, k = len(scores), int(hits[-1])
        top = min(len(scores), min_support)
        low, _ = wilson_interval(int(hits[top - 1]), top, level)
        return ThresholdChoice(
            None, n, k / n, low,
            f"no confidence keeps checked precision ≥ {target} (the {top} most confident: "
            f"lower bound {low:.3f}); nothing auto-accepted",
        )  # fmt: skip
    return best


def backoff(correct: int, checked: int, target: float, level: float = INTERVAL_LEVEL) -> str:
    """Why the router stops auto-accepting, or "": spot checks of auto-accepted labels measure
    a precision whose whole interval lies below the target."""
    if checked <= 0:
        return ""
    _, high = wilson_interval(correct, checked, level)
    if high < target:
        return (
            f"spot checks measured {correct}/{checked} auto-accepted labels right (upper bound "
            f"{high:.3f} < target {target}); auto-accepting stopped"
        )
    return ""
