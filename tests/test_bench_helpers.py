"""The LLM benchmarks' own arithmetic: which items each flywheel round trains on, when a
candidate is promoted, and the warm-up-excluded throughput window of the GPU comparison."""

from __future__ import annotations

import pytest

from bench.gpu_training import window_throughput
from bench.llm_flywheel import beats_parent, curated_rounds
from curator.algorithms.evaluation import win_rate
from curator.algorithms.judging import PairVerdict


def test_each_round_keeps_the_earlier_items_and_adds_k_new_ones():
    rounds = curated_rounds(pool_size=100, seed=3, rounds=3, per_round=5)
    assert [len(items) for items in rounds] == [5, 10, 15]
    assert rounds[1][:5] == rounds[0] and rounds[2][:10] == rounds[1]
    assert len(set(rounds[2])) == 15 and all(0 <= i < 100 for i in rounds[2])
    assert curated_rounds(100, 3, 3, 5) == rounds  # a seed is reproducible
    assert curated_rounds(100, 4, 3, 5) != rounds  # and seeds draw different items


def test_a_pool_too_small_for_the_rounds_is_refused():
    with pytest.raises(ValueError, match="need a pool"):
        curated_rounds(pool_size=10, seed=0, rounds=3, per_round=4)


def test_ties_alone_do_not_promote_a_candidate():
    tie = PairVerdict(0.5, "tie", True)
    win = PairVerdict(0.9, "a", False)
    assert not beats_parent(win_rate([tie, tie, tie, tie]))
    assert beats_parent(win_rate([win, tie, tie, tie]))


def test_throughput_leaves_out_the_warm_up_steps():
    # Step 1 is slow (warm-up); steps 2-4 take 1 s and 100 tokens each.
    marks = [(1, 10.0, 100), (2, 11.0, 200), (3, 12.0, 300), (4, 13.0, 400)]
    figures = window_throughput(marks, warmup=1)
    assert figures["timed_steps"] == 3
    assert figures["tokens_per_second"] == pytest.approx(100.0)
    assert figures["seconds_per_step"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="past the warm-up"):
        window_throughput(marks[:1], warmup=1)


def test_every_reliability_probe_names_a_test_that_exists() -> None:
    # A renamed test would otherwise show as "0 attempted / 0 failed": a silent gap.
    import re
    from pathlib import Path

    from bench.reliability import PROBES

    folder = Path(__file__).parent / "reliability"
    tests = [
        name
        for path in folder.glob("test_*.py")
        for name in re.findall(r"^def (test_\w+)", path.read_text(), re.M)
    ]
    for category, names in PROBES.items():
        for name in names:
            assert any(name in test for test in tests), f"{category}: no test matches {name}"
