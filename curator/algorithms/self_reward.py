"""Self-rewarding preference pairs: rank a model's own candidate responses, keep best vs worst.
Pure functions.

The judge ranks n candidates with a round-robin tournament: every pair (n(n-1)/2 of them) is
judged in both orders (`judging.verdicts`), and each candidate's score is its mean probability
of beating the others. With n = 4 that is 12 single-token judge calls per prompt, cheap next to
generating the candidates. A reward model scores each candidate once instead.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from curator.algorithms import curation
from curator.algorithms.judging import PairVerdict


def distinct_candidates(texts: Sequence[str]) -> list[str]:
    """Non-empty candidates, one per normalised text, in their order: a duplicate would only
    be judged against itself."""
    seen: set[str] = set()
    kept = []
    for text in texts:
        key = curation.normalise(text)
        if key and key not in seen:
            seen.add(key)
            kept.append(text)
    return kept


def round_robin_pairs(n: int) -> list[tuple[int, int]]:
    """Every unordered pair of n candidates once, (i, j) with i < j."""
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def round_robin_scores(
    n: int, pairs: Sequence[tuple[int, int]], verdicts: Sequence[PairVerdict]
) -> list[float]:
    """Each candidate's mean probability of beating the others; a verdict's `preference_a` is
    the probability that the pair's first candidate (i) is better, averaged over both orders."""
    wins = [0.0] * n
    for (i, j), verdict in zip(pairs, verdicts, strict=True):
        wins[i] += verdict.preference_a
        wins[j] += 1.0 - verdict.preference_a
    return [w / (n - 1) for w in wins] if n > 1 else wins


@dataclass(frozen=True)
class Ranked:
    best: int
    worst: int


def best_and_worst(scores: Sequence[float]) -> Ranked | None:
    """The highest and lowest scored candidates (the earlier one on equal scores); None when
    fewer than two candidates or all score the same, so no preference can be read."""
    if len(scores) < 2 or max(scores) == min(scores):
        return None
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    worst = min(range(len(scores)), key=lambda i: (scores[i], i))
    return Ranked(best=best, worst=worst)


def best_position(seed: int, unit: int) -> str:
    """Where the best response goes ("a" or "b"): random, so position never gives the choice
    away, and the same for the same seed and prompt record, so a chunk run again agrees."""
    key = hashlib.sha256(f"self-reward:{seed}:{unit}".encode()).hexdigest()
    return "a" if random.Random(int(key[:16], 16)).random() < 0.5 else "b"
