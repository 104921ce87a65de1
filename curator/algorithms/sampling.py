"""Which pool records to label next: uncertainty scores (higher = more uncertain), diverse and
typical batches, and the queue order of each strategy. Pure numpy and scikit-learn."""

from __future__ import annotations

from dataclasses import dataclass

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


MAX_CLUSTERS = 200


def typical_representatives(
    pool: np.ndarray, labeled: np.ndarray, k: int, *, seed: int = 0, neighbours: int = 20
) -> list[int]:
    """Cold start by TypiClust (Hacohen et al., ICML 2022): the most typical record of each of the
    k largest clusters that hold no labeled record yet.

    While a classifier has seen few labels its uncertainty is mostly wrong, so the first batches
    should cover the data's dense regions instead. The pool and labeled rows are clustered into
    len(labeled) + k groups (k-means on the unit embeddings); typicality is the inverse mean
    distance to a record's nearest neighbours inside its cluster. Returns pool row indexes.
    """
    from sklearn.cluster import MiniBatchKMeans

    x = np.asarray(pool, dtype=np.float32)
    k = min(k, len(x))
    if k <= 0:
        return []
    seen = np.asarray(labeled, dtype=np.float32).reshape(-1, x.shape[1])
    everything = np.concatenate([x, seen]) if len(seen) else x
    # TypiClust's len(labeled) + k clusters, capped: k-means time grows with the clusters, and
    # past the cold start the coverage of a few hundred clusters already tells the regions apart.
    clusters = min(len(seen) + k, MAX_CLUSTERS, len(everything))
    assignment = MiniBatchKMeans(
        n_clusters=clusters, random_state=seed, n_init=1, batch_size=1024, max_iter=20
    ).fit_predict(everything)
    pool_cluster, labeled_cluster = assignment[: len(x)], assignment[len(x) :]
    covered = np.bincount(labeled_cluster, minlength=clusters)
    size = np.bincount(pool_cluster, minlength=clusters)
    # Uncovered clusters first, the largest of them first (TypiClust's order).
    ranked = sorted(range(clusters), key=lambda c: (covered[c], -size[c], c))
    chosen: list[int] = []
    for cluster in ranked:
        members = np.flatnonzero(pool_cluster == cluster)
        if not len(members):
            continue
        chosen.append(int(members[np.argmax(_typicality(x[members], neighbours))]))
        if len(chosen) == k:
            break
    return chosen


def _typicality(x: np.ndarray, neighbours: int) -> np.ndarray:
    if len(x) == 1:
        return np.ones(1)
    distance = np.sqrt(np.clip(2 - 2 * (x @ x.T), 0, None))
    nearest = np.sort(distance, axis=1)[:, 1 : min(neighbours, len(x) - 1) + 1]
    return 1.0 / (nearest.mean(axis=1) + 1e-8)


# The strategies that order a project's queue (the `sampling` setting, less `auto`, which picks
# one of them per round; curator/algorithms/strategy_choice.py).
STRATEGIES = ("margin", "entropy", "hybrid", "committee", "typical")


@dataclass(frozen=True)
class QueueOrder:
    """How a round orders the pool: `batch` (pool row indexes) goes first in the order given,
    then every other row by `score`, highest first."""

    score: np.ndarray
    batch: list[int]

    def first(self, count: int) -> list[int]:
        """The first `count` rows the queue serves."""
        picked = set(self.batch)
        rest = [int(i) for i in rank_most_uncertain(self.score) if int(i) not in picked]
        return [*self.batch, *rest][:count]


def queue_order(
    strategy: str,
    probabilities: np.ndarray,
    pool: np.ndarray,
    labeled: np.ndarray,
    batch_size: int,
    *,
    votes: np.ndarray | None = None,
    seed: int = 0,
) -> QueueOrder:
    """Order the pool by one strategy; the round job and the benchmark both call this.

    margin: smallest gap between the two likeliest labels first (Scheffer et al. 2001), the
    measured best on the bundled encoder; entropy: predictive entropy; hybrid: a k-center batch
    among the most uncertain by entropy, then entropy; committee: vote entropy of `votes`
    (members x records), ties by entropy; typical: the cold start, TypiClust's batch, then margin.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown sampling strategy {strategy!r}")
    by_entropy = entropy(probabilities)
    by_margin = margin_uncertainty(probabilities)
    if strategy == "margin":
        return QueueOrder(by_margin, [])
    if strategy == "entropy":
        return QueueOrder(by_entropy, [])
    if strategy == "committee":
        if votes is None:
            raise ValueError("committee sampling needs the committee's votes")
        classes = np.asarray(probabilities).shape[1]
        return QueueOrder(vote_entropy(votes, classes) + by_entropy * 1e-3, [])
    if strategy == "hybrid":
        return QueueOrder(by_entropy, hybrid_batch(by_entropy, pool, labeled, batch_size))
    return QueueOrder(by_margin, typical_representatives(pool, labeled, batch_size, seed=seed))
