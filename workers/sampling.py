"""Uncertainty scores from predicted class probabilities. Pure numpy; higher = more uncertain."""

from __future__ import annotations

import numpy as np


def _check(probabilities: np.ndarray) -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError("probabilities must be a (records, classes>=2) array")
    return p


def entropy(probabilities: np.ndarray) -> np.ndarray:
    """Predictive entropy in nats: 0 when certain, log(classes) when uniform."""
    p = _check(probabilities)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=1)


def margin_uncertainty(probabilities: np.ndarray) -> np.ndarray:
    """1 - (top probability - runner-up): 1 when the two best classes tie."""
    p = np.sort(_check(probabilities), axis=1)
    return 1.0 - (p[:, -1] - p[:, -2])


def least_confidence(probabilities: np.ndarray) -> np.ndarray:
    return 1.0 - _check(probabilities).max(axis=1)


def rank_most_uncertain(scores: np.ndarray) -> np.ndarray:
    """Indices from most to least uncertain; ties keep their original order."""
    return np.argsort(-np.asarray(scores), kind="stable")
