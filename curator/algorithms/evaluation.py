"""Statistics for evaluating trained LLM versions on human-curated gold. Pure: no Django, no torch.

The model-backed half (log-likelihoods, generations, judging) is in
`workers/inference/llm_eval.py`; it hands plain arrays and verdicts to these functions.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from rouge_score import rouge_scorer
from statsmodels.stats.proportion import proportion_confint

from curator.algorithms.judging import PairVerdict, position_bias_rate

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class WinRate:
    """A candidate judged against a baseline on the same prompts, both orders per pair.

    A tie (the two orders disagree, i.e. position bias) counts half a win, the usual convention
    of pairwise leaderboards; the interval is Wilson's score interval on that rate.

    `mean_preference` is the judge's probability that the candidate is better, averaged over
    both orders and then over pairs (balanced position calibration, Wang et al. 2023, "Large
    Language Models are not Fair Evaluators"). A judge that always picks one position makes every
    verdict a tie, but its probabilities still lean towards the better response, so this figure
    can move when the win rate cannot; 0.5 means no preference.
    """

    wins: int
    ties: int
    losses: int
    win_rate: float
    ci_low: float
    ci_high: float
    position_bias_rate: float
    mean_preference: float

    @property
    def judged(self) -> int:
        return self.wins + self.ties + self.losses


def win_rate(
    verdicts: Sequence[PairVerdict], candidate: str = "a", confidence: float = 0.95
) -> WinRate:
    """`verdicts` from `judging.verdicts`, with the candidate's output as response `candidate`."""
    if candidate not in ("a", "b"):
        raise ValueError("candidate must be 'a' or 'b'")
    if not verdicts:
        raise ValueError("a win rate needs at least one judged pair")
    wins = sum(v.verdict == candidate for v in verdicts)
    ties = sum(v.verdict == "tie" for v in verdicts)
    losses = len(verdicts) - wins - ties
    score = wins + 0.5 * ties
    low, high = proportion_confint(score, len(verdicts), alpha=1 - confidence, method="wilson")
    return WinRate(
        wins=wins,
        ties=ties,
        losses=losses,
        win_rate=score / len(verdicts),
        ci_low=float(low),
        ci_high=float(high),
        position_bias_rate=position_bias_rate(verdicts),
        mean_preference=float(
            np.mean([v.preference_a if candidate == "a" else 1 - v.preference_a for v in verdicts])
        ),
    )


@functools.cache
def _rouge() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(predictions: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """ROUGE-L F1 of each prediction against its reference (the `rouge-score` package)."""
    if len(predictions) != len(references):
        raise ValueError("one reference per prediction")
    scorer = _rouge()
    pairs = zip(predictions, references, strict=True)
    return np.array([scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in pairs])


def preference_accuracy(margins: Sequence[float] | np.ndarray) -> float:
    """Share of pairs where the model prefers the chosen response (margin > 0; a tie is wrong,
    so an untrained implicit reward, all zeros, scores 0 rather than looking half right)."""
    values = np.asarray(margins, dtype=np.float64)
    if values.size == 0:
        raise ValueError("preference accuracy needs at least one pair")
    return float((values > 0).mean())


def as_messages(prompt: str | Messages) -> Messages:
    """A gold prompt as chat messages: plain text is one user turn."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return list(prompt)


def prompt_text(prompt: str | Messages) -> str:
    """A prompt as the text a judge reads: multi-turn conversations keep their speakers."""
    if isinstance(prompt, str):
        return prompt
    if len(prompt) == 1:
        return prompt[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in prompt)


def few_shot_messages(
    prompt: str | Messages, examples: Sequence[tuple[str | Messages, str]]
) -> Messages:
    """The in-context variant: training examples as earlier user/assistant turns, then the
    prompt, so the base model is shown the data instead of trained on it."""
    messages: Messages = []
    for example_prompt, response in examples:
        messages += as_messages(example_prompt)
        messages.append({"role": "assistant", "content": response})
    return messages + as_messages(prompt)


@dataclass
class VariantRow:
    """One line of a round's evaluation table; None where a measure does not apply."""

    variant: str  # base | in_context | candidate | promoted
    mean_loglik: float | None = None
    rouge_l: float | None = None
    win_rate: WinRate | None = None
    preference_accuracy: float | None = None
    reward_accuracy: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.win_rate is not None:
            data["win_rate"] = {**asdict(self.win_rate), "judged": self.win_rate.judged}
        return data


@dataclass
class VariantsReport:
    """The evaluation table of one candidate, compared as the NVIDIA data-flywheel blueprint
    compares variants (base, in-context, fine-tuned), plus the model it would replace."""

    rows: list[VariantRow]
    baseline: str  # the variant win rates are measured against
    gold_size: int
    samples: list[dict[str, str]] = field(default_factory=list)

    def row(self, variant: str) -> VariantRow:
        return next(r for r in self.rows if r.variant == variant)

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "gold_size": self.gold_size,
            "rows": [r.to_json() for r in self.rows],
            "samples": self.samples,
        }
