"""A toxicity head that learns from people's decisions, on top of a base scorer. Pure numpy and
statsmodels.

The base scorer (the bundled n-gram classifier, or a transformer for GPU deployments) knows
profanity; it misses insults without it and flags the project's harmless jargon. Curators'
holds and clears and annotators' "offensive" skips say what this project calls toxic, and they
fall where the base scorer is wrong. So the head learns a correction, not a replacement: a
ridge-penalised logistic regression on the record's stored embedding with the base score's
logit as a fixed offset (statsmodels GLM), logit p = logit(base) + w·embedding + b. Where no
decision is near, w·embedding stays near 0 and the base score stands. (A head with the base
logit as a free feature learned, from decisions made on the base scorer's mistakes, that the
base score points the wrong way: tests/test_toxicity_head.py.)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import statsmodels.api as sm

# At least this many decisions, some of each kind, before the head corrects the base score.
MIN_DECISIONS = 10
MIN_PER_CLASS = 3
# Ridge strength on the embedding weights (the intercept is free). At 0.01 the decisions barely
# moved the records decided on (unit-norm embeddings need large weights); at 0.001 they do,
# at a small cost on 200 random decisions (bench/toxicity.py: AUC on insults without profanity
# 0.821 -> 0.814).
HEAD_ALPHA = 0.001


@dataclass(frozen=True)
class ToxicityHead:
    """Weights over the embedding and an intercept, added to the base score's logit."""

    coefficients: tuple[float, ...]
    intercept: float
    decisions: int
    toxic: int

    @property
    def identity(self) -> str:
        """Changes with any decision: scores under a new head are new scores."""
        digest = hashlib.sha256(
            np.asarray((*self.coefficients, self.intercept), dtype="<f8").tobytes()
        ).hexdigest()[:12]
        return f"head:{self.decisions}d:{digest}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "coefficients": list(self.coefficients),
            "intercept": self.intercept,
            "decisions": self.decisions,
            "toxic": self.toxic,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToxicityHead:
        return cls(
            tuple(float(c) for c in data["coefficients"]),
            float(data["intercept"]),
            int(data["decisions"]),
            int(data["toxic"]),
        )


def _logit(base_scores: np.ndarray) -> np.ndarray:
    base = np.clip(np.asarray(base_scores, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.log(base / (1 - base))


def fit_head(
    embeddings: np.ndarray, base_scores: np.ndarray, toxic: list[bool], *, alpha: float = HEAD_ALPHA
) -> ToxicityHead | None:
    """The correction learned from decisions (True: toxic); None while there are too few of
    either kind to learn from, so the base scorer alone decides."""
    target = np.asarray(toxic, dtype=np.float64)
    positives = int(target.sum())
    if len(target) < MIN_DECISIONS or min(positives, len(target) - positives) < MIN_PER_CLASS:
        return None
    features = np.asarray(embeddings, dtype=np.float64)
    design = np.hstack([np.ones((len(target), 1)), features])
    penalty = np.r_[0.0, np.full(features.shape[1], alpha)]
    model = sm.GLM(target, design, family=sm.families.Binomial(), offset=_logit(base_scores))
    params = np.asarray(model.fit_regularized(alpha=penalty, L1_wt=0.0).params)
    return ToxicityHead(
        tuple(float(v) for v in params[1:]), float(params[0]), len(target), positives
    )


def head_scores(head: ToxicityHead, embeddings: np.ndarray, base_scores: np.ndarray) -> np.ndarray:
    """Probability that each text is toxic: the base score corrected by the head."""
    z = (
        _logit(base_scores)
        + np.asarray(embeddings, dtype=np.float64) @ np.asarray(head.coefficients)
        + head.intercept
    )
    return 1.0 / (1.0 + np.exp(-z))
