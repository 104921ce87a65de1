"""Turning an LLM's option log-likelihoods into calibrated label probabilities. Pure numpy.

Small models prefer some answers whatever the input (a label prior). Contextual calibration
(Zhao et al., 2021) measures that prior on content-free inputs ("N/A", "", "[MASK]") and divides
it out, so the confidence reflects the text rather than the model's habit.

The round classifier's probabilities are calibrated too (temperature scaling on held-out
folds), so that both routing signals mean what they say.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold

from curator.algorithms import learning

CONTENT_FREE_INPUTS = ("N/A", "", "[MASK]")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def content_free_prior(content_free_logprobs: np.ndarray) -> np.ndarray:
    """Mean label distribution the model gives to inputs that carry no content."""
    return softmax(np.atleast_2d(content_free_logprobs)).mean(axis=0)


def calibrate(option_logprobs: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """p(label | text) with the content-free prior divided out, renormalised per row."""
    p = softmax(np.atleast_2d(option_logprobs))
    q = p / np.clip(prior, 1e-12, None)
    return q / q.sum(axis=-1, keepdims=True)


def blend_votes(probabilities: np.ndarray, votes: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """Mix scored probabilities with self-consistency vote shares (rows of counts)."""
    shares = votes / np.clip(votes.sum(axis=-1, keepdims=True), 1, None)
    mixed = (1 - weight) * probabilities + weight * shares
    return mixed / mixed.sum(axis=-1, keepdims=True)


def near_chance(confidence: float, choices: int, margin: float) -> bool:
    """Whether a model's confidence in its top choice is within `margin` of guessing among
    `choices` options (0.52 on two classes is a coin toss): such a guess is no suggestion to
    accept with one key."""
    if choices < 2:
        return False
    return confidence < 1.0 / choices + margin


@dataclass
class CalibratedClassifier:
    """A classifier head whose probabilities were calibrated on held-out folds: the mean of
    the fold models whose held-out predictions are the routing evidence (`out_of_fold`), so a
    threshold chosen on that evidence means the same on new records. (A model refitted on all
    the data is more confident than the fold models were: on 400 tweets a threshold that kept
    0.93 on the evidence let through 0.86 on new ones.)

    `labels` is the column order of `predict_proba` and `out_of_fold`."""

    labels: list[str]
    models: list[CalibratedClassifierCV]
    # Each training example's probabilities from the fold model that never saw it, kept from
    # the fit so that the evidence costs no second fit; None for one model fitted on all the
    # data (a label with fewer than four examples), which has no held-out view.
    out_of_fold: np.ndarray | None = None

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        stacked = [np.asarray(m.predict_proba(features), dtype=np.float64) for m in self.models]
        return np.mean(stacked, axis=0)


def _calibrated(seed: int, folds: int) -> CalibratedClassifierCV:
    # Temperature scaling: one parameter for all classes, so a few hundred labels fit it
    # (isotonic regression needs thousands per class and overfits below that).
    return CalibratedClassifierCV(
        learning.logistic_regression(seed), method="temperature", cv=folds, ensemble=False
    )


def _folds(target: np.ndarray, folds: int) -> int:
    return max(2, min(folds, int(np.bincount(target).min())))


def calibrated_classifier(
    features: np.ndarray, labels: list[str], *, seed: int = 0, folds: int = 5
) -> CalibratedClassifier:
    """The round classifier (logistic regression on embeddings) with its probabilities
    temperature-scaled on out-of-fold predictions (scikit-learn's CalibratedClassifierCV): the
    fold models of a stratified split, averaged, with each example's probabilities from the
    fold that held it out; one model on all the data where a label has too few examples for
    folds."""
    classes, target = _targets(labels)
    if len(classes) < 2 or np.bincount(target).min() < 2:
        raise ValueError("calibration needs at least two examples of each of two labels")
    if np.bincount(target).min() < 4:
        return CalibratedClassifier(classes, [_calibrated(seed, 2).fit(features, target)])
    models, probabilities = [], np.zeros((len(target), len(classes)))
    for model, held_out in _fold_models(features, target, seed, folds):
        models.append(model)
        probabilities[held_out] = model.predict_proba(features[held_out])
    return CalibratedClassifier(classes, models, probabilities)


def out_of_fold_calibrated(
    features: np.ndarray, labels: list[str], *, seed: int = 0, folds: int = 5
) -> tuple[list[str], np.ndarray]:
    """Each example's calibrated probabilities from a model that never saw it: the honest
    evidence a routing threshold is chosen on. Returns (column labels, probabilities); the
    `out_of_fold` of `calibrated_classifier` on the same arguments, for callers that need no
    model."""
    classes, target = _targets(labels)
    if len(classes) < 2 or np.bincount(target).min() < 4:
        raise ValueError("out-of-fold calibration needs at least four examples of each label")
    model = calibrated_classifier(features, labels, seed=seed, folds=folds)
    assert model.out_of_fold is not None  # four of each label: fold models
    return model.labels, model.out_of_fold


def _targets(labels: list[str]) -> tuple[list[str], np.ndarray]:
    classes = sorted(set(labels))
    return classes, np.array([classes.index(label) for label in labels])


def _fold_models(
    features: np.ndarray, target: np.ndarray, seed: int, folds: int
) -> list[tuple[CalibratedClassifierCV, np.ndarray]]:
    """(model fitted on the other folds, the fold it never saw), per fold of a stratified split."""
    splitter = StratifiedKFold(n_splits=_folds(target, folds), shuffle=True, random_state=seed)
    inner = _folds(target, folds - 1 if folds > 2 else 2)
    return [
        (_calibrated(seed, inner).fit(features[train], target[train]), held_out)
        for train, held_out in splitter.split(features, target)
    ]
