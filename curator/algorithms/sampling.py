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


def k_center_greedy(candidates: np.ndarray, centers: np.ndarray, k: int) -> list[int]:
    """Pick k candidate rows, each the farthest from everything labeled or picked so far.

    Rows are unit vectors (cosine geometry). With no centers the first pick is candidate 0, so
    callers pass candidates most-uncertain first.
    """
    x = np.asarray(candidates, dtype=np.float32)
    k = min(k, len(x))
    if k <= 0:
        return []
    chosen: list[int] = []
    if len(centers):
        similarity = x @ np.asarray(centers, dtype=np.float32).T
        nearest = np.sqrt(np.clip(2 - 2 * similarity.max(axis=1), 0, None))
    else:
        nearest = np.full(len(x), np.inf)
    for _ in range(k):
        pick = int(np.argmax(nearest))  # the first of equals: candidate 0 when nothing is labeled
        chosen.append(pick)
        distance = np.sqrt(np.clip(2 - 2 * (x @ x[pick]), 0, None))
        nearest = np.minimum(nearest, distance)
        nearest[pick] = -1.0
    return chosen


def hybrid_batch(
    uncertainty: np.ndarray,
    embeddings: np.ndarray,
    labeled_embeddings: np.ndarray,
    batch_size: int,
    shortlist_factor: int = 5,
) -> list[int]:
    """Uncertain, then diverse: k-center greedy over the `shortlist_factor * batch` most uncertain.

    Pure uncertainty sampling fills a batch with near-duplicates of one confusing case; picking
    spread-out points among the uncertain ones covers more of the boundary per label.
    """
    order = rank_most_uncertain(uncertainty)[: batch_size * shortlist_factor]
    picked = k_center_greedy(embeddings[order], labeled_embeddings, batch_size)
    return [int(order[i]) for i in picked]


def vote_entropy(votes: np.ndarray, classes: int) -> np.ndarray:
    """Committee disagreement: entropy of the members' votes per record (members x records)."""
    votes = np.asarray(votes)
    counts = np.stack([(votes == c).sum(axis=0) for c in range(classes)], axis=1)
    return entropy(counts / votes.shape[0])
