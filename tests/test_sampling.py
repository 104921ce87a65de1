import math

import numpy as np
import pytest

from curator.algorithms import strategy_choice
from curator.algorithms.learning import evaluate, train_classifier
from curator.algorithms.sampling import (
    entropy,
    hybrid_batch,
    k_center_greedy,
    least_confidence,
    margin_uncertainty,
    queue_order,
    rank_most_uncertain,
    typical_representatives,
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


# --- strategies, the cold start and `auto` ------------------------------------------------------


@pytest.fixture(scope="module")
def sst2_embedded() -> tuple[np.ndarray, list[str]]:
    from tests.conftest import sst2_rows
    from workers.inference.encoder import get_encoder

    rows = sst2_rows("dev", 300)
    return get_encoder().encode([r["text"] for r in rows]), [r["label"] for r in rows]


def test_margin_orders_the_queue_smallest_gap_first():
    p = np.array([[0.9, 0.05, 0.05], [0.46, 0.44, 0.10], [0.4, 0.3, 0.3]])
    pool, labeled = np.eye(3), np.zeros((0, 3))
    # Gaps 0.85, 0.02, 0.1: the near-tie between two labels first. Entropy puts the flatter
    # row 2 first although the model hesitates less there between its two best labels.
    assert queue_order("margin", p, pool, labeled, batch_size=2).first(3) == [1, 2, 0]
    assert queue_order("margin", p, pool, labeled, batch_size=2).batch == []
    assert queue_order("entropy", p, pool, labeled, batch_size=2).first(3) == [2, 1, 0]


def test_cold_start_batch_covers_the_data_better_than_random_picks(sst2_embedded):
    x, _ = sst2_embedded
    pool, labeled = x[20:], x[:20]
    picked = typical_representatives(pool, labeled, 10, seed=1)
    assert len(set(picked)) == 10

    def uncovered(rows: list[int]) -> float:  # mean distance of the pool to its nearest pick
        return float(np.sqrt(np.clip(2 - 2 * (pool @ pool[rows].T).max(axis=1), 0, None)).mean())

    rng = np.random.default_rng(0)
    random_picks = [uncovered(list(rng.choice(len(pool), 10, replace=False))) for _ in range(20)]
    assert uncovered(picked) < min(random_picks)
    # As a queue order: the typical batch first, in the order picked, then by margin.
    p = np.full((len(pool), 2), 0.5)
    order = queue_order("typical", p, pool, labeled, 10, seed=1)
    assert order.batch == picked and order.first(10) == picked


def test_committee_order_needs_votes():
    with pytest.raises(ValueError, match="votes"):
        queue_order("committee", np.full((2, 2), 0.5), np.eye(2), np.zeros((0, 2)), 1)


ARMS = ("margin", "hybrid", "typical")


def _reward(strategy: str, rng: np.random.Generator) -> float:
    # Gold accuracy per doubling of labels: margin truly pays 0.05, hybrid 0.03, typical 0.01,
    # each with noise as large as the gaps between them.
    return {"margin": 0.05, "hybrid": 0.03, "typical": 0.01}[strategy] + rng.normal(0, 0.02)


def test_auto_starts_cold_and_converges_to_the_strategy_that_pays_most():
    cold = strategy_choice.cold_start(30, 100)
    assert cold is not None and cold.strategy == "typical" and "30 labels trained" in cold.reason
    assert strategy_choice.cold_start(100, 100) is None
    finals, favoured = [], 0
    for run in range(10):
        rng = np.random.default_rng(run)
        history: list[strategy_choice.Outcome] = []
        plays = []
        for number in range(1, 41):
            choice = strategy_choice.choose(history, seed=1000 * run + number, arms=ARMS)
            plays.append(choice.strategy)
            gain = _reward(choice.strategy, rng)
            history.append(strategy_choice.Outcome(choice.strategy, gain, 1.0))
        finals.append(plays[-15:].count("margin") / 15)
        favoured += choice.arms["margin"].chance_best == max(
            a.chance_best for a in choice.arms.values()
        )
    # Noise as large as the gaps: a run can lock onto the runner-up for a while (Thompson
    # sampling explores it again as its old evidence fades), but most runs settle on margin.
    assert favoured >= 8 and np.mean(finals) >= 0.6, (favoured, finals)


def test_auto_rewards_a_batch_by_the_gold_gain_per_doubling_on_the_same_gold():
    rounds = [
        strategy_choice.RoundEvidence("typical", 0.70, 50, "g1"),
        strategy_choice.RoundEvidence("margin", 0.76, 100, "g1"),
        strategy_choice.RoundEvidence("margin", 0.80, 200, "g2"),  # gold changed: no reward
        strategy_choice.RoundEvidence("hybrid", 0.81, 400, "g2"),
        strategy_choice.RoundEvidence("", None, 800, "g2"),  # no gold accuracy: no reward
    ]
    rewards = [(o.strategy, o.gain, o.doublings) for o in strategy_choice.outcomes(rounds)]
    assert rewards == [("typical", pytest.approx(0.06), 1.0), ("margin", pytest.approx(0.01), 1.0)]
