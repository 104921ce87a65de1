"""Statistics of the LLM evaluation table and the training settings, on literal inputs."""

from __future__ import annotations

import numpy as np
import pytest

from curator.algorithms.evaluation import (
    few_shot_messages,
    preference_accuracy,
    prompt_text,
    rouge_l,
    win_rate,
)
from curator.algorithms.judging import PairVerdict, verdicts
from curator.algorithms.training_config import TrainingConfig


def verdict(which: str) -> PairVerdict:
    return PairVerdict(0.5, which, which == "tie")


def test_win_rate_counts_ties_as_half_and_brackets_it_with_a_wilson_interval() -> None:
    result = win_rate([verdict("a")] * 6 + [verdict("tie")] * 2 + [verdict("b")] * 2)
    assert (result.wins, result.ties, result.losses, result.judged) == (6, 2, 2, 10)
    assert result.win_rate == pytest.approx(0.7)
    assert result.position_bias_rate == pytest.approx(0.2)
    assert result.ci_low < 0.7 < result.ci_high
    assert result.ci_low == pytest.approx(0.3968, abs=1e-3)  # Wilson, 7 of 10, 95 %


def test_win_rate_of_the_candidate_as_response_b_mirrors_a() -> None:
    judged = [verdict("b")] * 3 + [verdict("a")]
    assert win_rate(judged, candidate="b").win_rate == pytest.approx(0.75)
    assert win_rate(judged, candidate="a").win_rate == pytest.approx(0.25)
    with pytest.raises(ValueError, match="at least one judged pair"):
        win_rate([])


def test_mean_preference_moves_when_a_position_biased_judge_ties_every_pair() -> None:
    # The judge picked the first position in both orders every time (all ties), but leaned
    # towards A: P(A better) averaged over the two orders is 0.7, 0.6 and 0.5.
    judged = verdicts(np.array([0.9, 0.8, 0.7]), np.array([0.5, 0.6, 0.7]))
    assert [v.verdict for v in judged] == ["tie", "tie", "tie"]
    assert win_rate(judged, "a").win_rate == pytest.approx(0.5)
    assert win_rate(judged, "a").mean_preference == pytest.approx(0.6)
    assert win_rate(judged, "b").mean_preference == pytest.approx(0.4)


def test_rouge_l_is_the_f1_of_the_longest_common_subsequence() -> None:
    scores = rouge_l(["the cat sat on the mat", "nothing alike"], ["the cat sat", "the dog ran"])
    assert scores[0] == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert scores[1] == 0.0
    with pytest.raises(ValueError):
        rouge_l(["one"], [])


def test_preference_accuracy_counts_an_indifferent_model_as_wrong() -> None:
    assert preference_accuracy([0.3, -0.1, 0.0, 2.0]) == 0.5
    assert preference_accuracy([0.0, 0.0]) == 0.0


def test_in_context_variant_shows_training_examples_as_earlier_turns() -> None:
    messages = few_shot_messages("Q3", [("Q1", "A1"), ("Q2", "A2")])
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert [m["content"] for m in messages] == ["Q1", "A1", "Q2", "A2", "Q3"]
    conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    assert prompt_text(conversation) == "User: hi\n\nAssistant: yo"


def test_training_settings_from_json_keep_defaults_and_refuse_bad_values() -> None:
    config = TrainingConfig.from_settings({"lora_rank": 8.0, "target_modules": "all-linear"})
    assert config.lora_rank == 8 and config.target_modules == ("all-linear",)
    assert config.learning_rate == TrainingConfig().learning_rate
    with pytest.raises(ValueError) as error:
        TrainingConfig.from_settings({"max_steps": 2.5, "beta": True, "epochs": 0})
    assert "max_steps must be a whole number" in str(error.value)
    assert "beta must be a number" in str(error.value)
    with pytest.raises(ValueError, match="epochs must be above 0 when max_steps is not set"):
        TrainingConfig.from_settings({"epochs": 0})
    with pytest.raises(ValueError, match="lora_dropout must be in"):
        TrainingConfig(lora_dropout=1.0)
