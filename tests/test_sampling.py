import math

import numpy as np
import pytest

from curator.algorithms.learning import evaluate, train_classifier
from curator.algorithms.sampling import (
    entropy,
    hybrid_batch,
    k_center_greedy,
    least_confidence,
    margin_uncertainty,
    rank_most_uncertain,
    vote_entropy,
)


def test_entropy_is_zero_when_certain_and_log_k_when_uniform():
    p = np.array([[1.0, 0.0], [0.5, 0.5], [0.9, 0.1]])
    assert entropy(p) == pytest.approx(
        [0.0, math.log(2), -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))]
    )
    assert entropy(np.full((1, 4), 0.25)) == pytest.approx([math.log(4)])


def test_margin_and_least_confidence():
    p = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]])
    assert margin_uncertainty(p) == pytest.approx([0.5, 1.0])
    assert least_confidence(p) == pytest.approx([0.3, 0.6])


def test_ranking_puts_the_most_uncertain_first_and_keeps_ties_in_order():
    assert rank_most_uncertain(np.array([0.1, 0.7, 0.3, 0.7])).tolist() == [1, 3, 2, 0]


def test_scores_refuse_a_single_class():
    with pytest.raises(ValueError, match="classes>=2"):
        entropy(np.array([[1.0], [1.0]]))


def test_classifier_learns_separable_points_and_reports_metrics():
    rng = np.random.default_rng(0)
    a = rng.normal(loc=[2, 0], scale=0.3, size=(20, 2))
    b = rng.normal(loc=[-2, 0], scale=0.3, size=(20, 2))
    model = train_classifier(np.vstack([a, b]), ["a"] * 20 + ["b"] * 20)
    assert model.labels == ["a", "b"]
    assert model.predict(np.array([[2.0, 0.1], [-2.0, 0.0]])) == ["a", "b"]
    # predicted a, b, b, b against gold a, b, a, b: "a" precision 1/1, recall 1/2; "b"
    # precision 2/3, recall 2/2.
    assert evaluate(["a", "b", "b", "b"], ["a", "b", "a", "b"]) == {
        "gold_size": 4,
        "accuracy": 0.75,
        "macro_f1": pytest.approx((2 / 3 + 0.8) / 2),
        "per_class": {
            "a": {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2},
            "b": {"precision": pytest.approx(2 / 3), "recall": 1.0, "f1": pytest.approx(0.8),
                  "support": 2},
        },
        "confusion": {"labels": ["a", "b"], "matrix": [[1, 1], [0, 2]]},
    }  # fmt: skip


def test_training_needs_two_labels():
    with pytest.raises(ValueError, match="at least two labels"):
        train_classifier(np.zeros((3, 2)), ["a", "a", "a"])


def test_k_center_picks_the_point_farthest_from_the_labeled_set():
    labeled = np.array([[1.0, 0.0]])
    candidates = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.7071, 0.7071]])
    assert k_center_greedy(candidates, labeled, 2) == [2, 1]


def test_hybrid_batch_spreads_over_the_uncertain_shortlist():
    # Four near-identical very uncertain points and one different, slightly less uncertain one.
    embeddings = np.array([[1, 0], [0.999, 0.045], [0.998, 0.063], [0.997, 0.077], [0, 1.0]])
    embeddings = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    uncertainty = np.array([0.69, 0.689, 0.688, 0.687, 0.6, 0.1])[:5]
    batch = hybrid_batch(uncertainty, embeddings, np.zeros((0, 2)), batch_size=2)
    assert batch == [0, 4]
    assert rank_most_uncertain(uncertainty)[:2].tolist() == [0, 1]  # what entropy alone picks


def test_vote_entropy_is_zero_when_members_agree_and_high_when_split():
    votes = np.array([[0, 1, 0], [0, 0, 1], [0, 1, 1], [0, 0, 0]])  # 4 members x 3 records
    assert vote_entropy(votes, 2) == pytest.approx([0.0, math.log(2), math.log(2)])
    assert vote_entropy(np.array([[0, 1], [0, 1], [0, 0]]), 3) == pytest.approx(
        [0.0, -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))]
    )


def test_committee_members_differ_but_each_learns_the_task():
    from curator.algorithms.learning import train_committee

    rng = np.random.default_rng(1)
    features = np.vstack([rng.normal([2, 0], 0.8, (30, 2)), rng.normal([-2, 0], 0.8, (30, 2))])
    committee = train_committee(features, ["a"] * 30 + ["b"] * 30, members=4)
    assert len(committee) == 4
    assert all(m.predict(np.array([[3.0, 0.0]])) == ["a"] for m in committee)
    coefficients = {tuple(np.round(m.model.coef_.ravel(), 6)) for m in committee}
    assert len(coefficients) == 4
