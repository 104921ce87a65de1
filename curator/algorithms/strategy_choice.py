"""`sampling: auto`: which strategy orders the queue next, chosen from what each one measurably
brought this project.

Until the project's `cold_start_labels` trained, the cold start (typical records, TypiClust)
orders the queue: bench/sampling.py measured that uncertainty chosen by a model of fewer labels
does not pay. Then a multi-armed bandit over strategies (Baram et al. 2004 and Hsu & Lin 2015,
"Active learning by learning", chose among strategies the same way), played by Thompson
sampling. The reward of
a strategy is what the batch it chose did to the round classifier's gold macro-F1 (accuracy on
balanced labels, and not fooled by the majority class on skewed ones), per doubling
of the training labels: learning curves are close to linear in log(labels), so that gain stays
comparable between early and late rounds, where the raw gain shrinks. Old rewards are
discounted, so a strategy that stops paying (the cold start, once uncertainty pays off) loses
its lead. Pure: values in, values out; the seed is the round number, so a round's choice can be
reproduced.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Before cold_start_labels trained, typical batches (no model's uncertainty is worth trusting
# yet); then the bandit plays the uncertainty strategies never clearly worse than the best on
# bench/sampling.py's data sets (hybrid needed 788 ± 186 labels on SST-2 against margin's
# 468 ± 172, committee 614 ± 209; on the 3-class tweets all were within noise of each other).
COLD_START = "typical"
COLD_START_LABELS = 100  # the project default: bench/sampling.py, where uncertainty starts to pay
ARMS = ("margin", "entropy")
DISCOUNT = 0.95  # weight of a batch one batch older: the cold start's lead fades
PRIOR_WEIGHT = 0.25  # doublings squared of the all-arms mean every arm's estimate starts with
MIN_NOISE = 0.005  # gold macro-F1: the least noise of a measured gain assumed
DRAWS = 2000  # Monte Carlo draws for the probabilities shown on the round page


@dataclass(frozen=True)
class RoundEvidence:
    """One finished round: the strategy that ordered the queue after it and how it measured."""

    strategy: str
    score: float | None  # gold macro-F1 of the round's classifier
    train_size: int
    gold_digest: str | None


@dataclass(frozen=True)
class Outcome:
    strategy: str
    gain: float  # gold macro-F1 after the batch minus before
    doublings: float  # log2(labels after / labels before)

    @property
    def reward(self) -> float:
        """Gold macro-F1 gained per doubling of the training labels."""
        return self.gain / self.doublings


@dataclass(frozen=True)
class ArmFigures:
    batches: int
    mean_reward: float | None
    chance_best: float


@dataclass(frozen=True)
class Choice:
    strategy: str
    reason: str
    arms: dict[str, ArmFigures]

    def as_dict(self) -> dict:
        return {
            "strategy": self.strategy,
            "reason": self.reason,
            "arms": {
                name: {
                    "batches": arm.batches,
                    "mean_reward": arm.mean_reward,
                    "chance_best": arm.chance_best,
                }
                for name, arm in self.arms.items()
            },
        }


def outcomes(rounds: Sequence[RoundEvidence]) -> list[Outcome]:
    """The reward of each batch: round i's strategy chose what round i+1 trained on more.
    A pair measured on different gold, or without gold, or without new labels, says nothing."""
    found = []
    for before, after in itertools.pairwise(rounds):
        if (
            before.score is None
            or after.score is None
            or before.gold_digest != after.gold_digest
            or after.train_size <= before.train_size
            or before.train_size <= 0
        ):
            continue
        doublings = math.log2(after.train_size / before.train_size)
        found.append(Outcome(before.strategy, after.score - before.score, doublings))
    return found


def choose(history: Sequence[Outcome], *, seed: int, arms: Sequence[str] = ARMS) -> Choice:
    """Thompson sampling over `arms`, each arm's reward a discounted Gaussian belief.

    An arm's reward (gain per doubling) is estimated by weighted least squares through the
    origin, gain = reward x doublings: a small batch late in a project moves accuracy by less
    than the gold set's noise, so it weighs by its doublings squared, and older batches by
    DISCOUNT per batch. Each estimate is shrunk to the mean of all arms (PRIOR_WEIGHT doublings
    squared of it) and spread by the residual noise of the gains. One draw per arm; the highest
    plays. With no evidence every arm has the same belief, so the draw alone decides.
    """
    known = [o for o in history if o.strategy in arms and o.doublings > 0]
    gains = np.array([o.gain for o in known])
    doublings = np.array([o.doublings for o in known])
    age = DISCOUNT ** np.arange(len(known))[::-1]  # the newest weighs 1
    overall = float((age * doublings * gains).sum() / (age * doublings**2).sum()) if known else 0.0
    played = [np.array([o.strategy == arm for o in known], dtype=bool) for arm in arms]
    strength = np.array([(age * doublings**2)[mine].sum() for mine in played])
    mean = np.array(
        [
            ((age * doublings * gains)[mine].sum() + PRIOR_WEIGHT * overall)
            / (strength[i] + PRIOR_WEIGHT)
            for i, mine in enumerate(played)
        ]
    )
    residuals = (
        gains - doublings * mean[np.array([list(arms).index(o.strategy) for o in known], dtype=int)]
    )
    freedom = len(known) - sum(bool(mine.any()) for mine in played)
    noise = max(MIN_NOISE, float(np.sqrt((residuals**2).sum() / freedom)) if freedom > 1 else 0)
    sd = noise / np.sqrt(strength + PRIOR_WEIGHT)
    rng = np.random.default_rng(seed)
    pick = int(np.argmax(rng.normal(mean, sd)))
    draws = rng.normal(mean, sd, size=(DRAWS, len(arms)))
    chance = np.bincount(draws.argmax(axis=1), minlength=len(arms)) / DRAWS
    figures = {
        arm: ArmFigures(int(mine.sum()), float(mean[i]) if mine.any() else None, float(chance[i]))
        for i, (arm, mine) in enumerate(zip(arms, played, strict=True))
    }
    strategy = arms[pick]
    shown = figures[strategy]
    evidence = (
        f"{shown.mean_reward:+.3f} gold macro-F1 per doubling of labels over {shown.batches} "
        f"batch{'es' if shown.batches != 1 else ''}"
        if shown.mean_reward is not None
        else "not tried yet"
    )
    return Choice(
        strategy,
        f"{strategy}: {evidence}; chance of being the best {shown.chance_best:.0%} "
        f"(Thompson sampling over {', '.join(arms)})",
        figures,
    )


def cold_start(train_size: int, cold_start_labels: int) -> Choice | None:
    """The cold start's choice while fewer than `cold_start_labels` labels trained, else None."""
    if train_size >= cold_start_labels:
        return None
    return Choice(
        COLD_START,
        f"cold start: {train_size} labels trained, fewer than {cold_start_labels}; the most "
        "typical record of each uncovered cluster (TypiClust) until uncertainty pays",
        {},
    )
