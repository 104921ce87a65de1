import numpy as np
import pytest

from curator.algorithms.judging import agreement, pairwise_messages, position_bias_rate, verdicts


def test_consistent_orders_give_a_verdict_and_swapped_preference_a_tie():
    # Pair 1: A wins in both orders. Pair 2: B wins in both. Pair 3: first position always wins.
    results = verdicts(np.array([0.9, 0.2, 0.8]), np.array([0.1, 0.7, 0.9]))
    assert [r.verdict for r in results] == ["a", "b", "tie"]
    assert [r.position_biased for r in results] == [False, False, True]
    assert results[0].preference_a == pytest.approx(0.9)
    assert position_bias_rate(results) == pytest.approx(1 / 3)


def test_a_judge_that_always_prefers_the_first_slot_is_all_ties():
    results = verdicts(np.full(5, 0.95), np.full(5, 0.95))
    assert {r.verdict for r in results} == {"tie"}
    assert position_bias_rate(results) == 1.0


def test_agreement_counts_ties_as_disagreement():
    results = verdicts(np.array([0.9, 0.2, 0.8]), np.array([0.1, 0.7, 0.9]))
    assert agreement(results, ["a", "a", "b"]) == {
        "judged_with_human": 3,
        "agreement": pytest.approx(1 / 3),
        "agreement_when_decided": 0.5,
    }


def test_judge_prompt_shows_both_responses_in_the_given_order():
    messages = pairwise_messages("Human: hi", "first reply", "second reply")
    assert "[Response A]\nfirst reply\n\n[Response B]\nsecond reply" in messages[1]["content"]


def test_expected_rating_is_the_mean_of_the_scale():
    from curator.algorithms.judging import expected_rating, rating_messages

    logprobs = np.log(np.array([[0.0001, 0.0001, 0.0001, 0.0001, 0.9996], [0.2] * 5]))
    assert expected_rating(logprobs) == pytest.approx([5.0, 3.0], abs=1e-3)
    assert "from 1 (very poor) to 10" in rating_messages("Human: hi", "hello", top=10)[0]["content"]
