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
    model = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced", random_state=seed)
    model.fit(features, target)
    return TrainedClassifier(labels=classes, model=model)


def evaluate(predicted: list[str], expected: list[str]) -> dict[str, Any]:
    """Accuracy and macro-F1 over the labels present in either list."""
    if not expected:
        return {"gold_size": 0}
    return {
        "gold_size": len(expected),
        "accuracy": float(accuracy_score(expected, predicted)),
        "macro_f1": float(f1_score(expected, predicted, average="macro", zero_division=0)),
    }


def train_committee(
    features: np.ndarray, labels: list[str], *, members: int, seed: int = 0
) -> list[TrainedClassifier]:
    """Classifiers on bootstrap resamples (query by bagging), each seeing every label."""
    rng = np.random.default_rng(seed)
    target = np.array(labels)
    committee = []
    while len(committee) < members:
        sample = rng.integers(0, len(labels), len(labels))
        if len(set(target[sample])) < len(set(labels)):
            continue
        committee.append(
            train_classifier(features[sample], list(target[sample]), seed=seed + len(committee))
        )
    return committee
