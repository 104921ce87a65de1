"""Training the round classifier on embeddings and measuring it. No Django here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score


@dataclass
class TrainedClassifier:
    labels: list[str]  # column order of predict_proba
    model: LogisticRegression

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(features)

    def predict(self, features: np.ndarray) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(features).argmax(axis=1)]


def train_classifier(
    features: np.ndarray, labels: list[str], *, seed: int = 0
) -> TrainedClassifier:
    """Multinomial logistic regression; embeddings are unit vectors, so no scaling is needed."""
    if len(set(labels)) < 2:
        raise ValueError("training needs examples of at least two labels")
    classes = sorted(set(labels))
    index = {label: i for i, label in enumerate(classes)}
    target = np.array([index[label] for label in labels])
    model = _logistic_regression(seed)
    model.fit(features, target)
    return TrainedClassifier(labels=classes, model=model)


def _logistic_regression(seed: int, c: float = 4.0) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=2000, class_weight="balanced", random_state=seed)


# The round classifier's estimator, for those that wrap it (calibration).
logistic_regression = _logistic_regression


# For noise detection the classifier is regularised harder: one that fits the noisy labels less
# exposes more of them (on SST-2 with 10% flips: F1 0.45 at C=0.25 against 0.42 at C=4). And it
# is not class-balanced: balanced weights inflate the rare classes' probabilities, so confident
# learning takes many right labels of the common class for errors (3-class tweets, 77% one
# class, 10% flips: F1 0.40 balanced against 0.71 unweighted; SST-2, balanced data: unchanged).
NOISE_C = 0.25


def _noise_classifier(seed: int) -> LogisticRegression:
    return LogisticRegression(C=NOISE_C, max_iter=2000, random_state=seed)


def out_of_fold_probabilities(
    features: np.ndarray,
    labels: list[str],
    *,
    folds: int = 5,
    seed: int = 0,
    repeats: int = 1,
    neighbours: int = 0,
) -> tuple[list[str], np.ndarray]:
    """Each example's label probabilities from classifiers that never saw it (k-fold), the
    input confident learning needs. With `repeats` > 1 the k-fold runs again on differently
    shuffled folds and the probabilities are averaged: an ensemble of out-of-fold models, whose
    estimate depends less on which examples happened to share a fold. With `neighbours` > 0 a
    k-nearest-neighbour vote (cosine, by distance) joins each run's average.
    Returns (label order of the columns, probabilities)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError("noise detection needs examples of at least two labels")
    target = np.array([classes.index(label) for label in labels])
    smallest = int(np.bincount(target).min())
    folds = max(2, min(folds, smallest))
    if smallest < 2:
        raise ValueError("every label needs at least two labeled examples")
    runs = []
    for repeat in range(max(1, repeats)):
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
        runs.append(
            cross_val_predict(
                _noise_classifier(seed + repeat), features, target, cv=splitter,
                method="predict_proba",
            )
        )  # fmt: skip
        if neighbours:
            from sklearn.neighbors import KNeighborsClassifier

            vote = KNeighborsClassifier(neighbours, metric="cosine", weights="distance")
            runs.append(
                cross_val_predict(vote, features, target, cv=splitter, method="predict_proba")
            )
    return classes, np.mean(runs, axis=0)


def evaluate(predicted: list[str], expected: list[str]) -> dict[str, Any]:
    """Accuracy and macro-F1 over the labels present in either list."""
    if not expected:
        return {"gold_size": 0}
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = sorted(set(expected) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        expected, predicted, labels=labels, zero_division=0
    )
    return {
        "gold_size": len(expected),
        "accuracy": float(accuracy_score(expected, predicted)),
        "macro_f1": float(f1_score(expected, predicted, average="macro", zero_division=0)),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
            for label, p, r, f, n in zip(labels, precision, recall, f1, support, strict=True)
        },
        # rows: the gold label, columns: the prediction
        "confusion": {
            "labels": labels,
            "matrix": confusion_matrix(expected, predicted, labels=labels).tolist(),
        },
    }


def train_committee(
    features: np.ndarray, labels: list[str], *, members: int, seed: int = 0
) -> list[TrainedClassifier]:
    """Classifiers on bootstrap resamples (query by bagging), each seeing every label."""
    rng = np.random.default_rng(seed)
    target = np.array(labels)
    committee: list[TrainedClassifier] = []
    while len(committee) < members:
        sample = rng.integers(0, len(labels), len(labels))
        if len(set(target[sample])) < len(set(labels)):
            continue
        committee.append(
            train_classifier(features[sample], list(target[sample]), seed=seed + len(committee))
        )
    return committee
