"""LLM-as-a-judge for pairwise comparisons, with position-bias control. Pure functions.

Each pair is judged twice, with the responses in both orders. A judge that prefers the same
response both times gives a verdict; one that prefers the same *position* both times is showing
position bias, and the pair is a tie.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SYSTEM = (
    "You are an impartial judge. Compare two assistant responses to the same conversation and "
    "decide which one is better: more helpful, honest and harmless. {rubric}"
    "Answer with one letter: A or B."
)
USER = (
    "Conversation:\n{prompt}\n\n[Response A]\n{first}\n\n[Response B]\n{second}\n\nWhich is better?"
)
MAX_CHARS = 1200


def pairwise_messages(
    prompt: str, first: str, second: str, rubric: str = ""
) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": SYSTEM.replace("{rubric}", f"{rubric.strip()} " if rubric else ""),
        },
        {
            "role": "user",
            "content": USER.replace("{prompt}", prompt[-MAX_CHARS:])
            .replace("{first}", first[:MAX_CHARS])
            .replace("{second}", second[:MAX_CHARS]),
        },
    ]


@dataclass(frozen=True)
class PairVerdict:
    preference_a: float  # probability that A is better, averaged over both orders
    verdict: str  # "a", "b" or "tie"
    position_biased: bool  # the same position won in both orders


def verdicts(p_first_when_ab: np.ndarray, p_first_when_ba: np.ndarray) -> list[PairVerdict]:
    """`p_first_when_ab`: P(first position wins) with A shown first; `_ba`: with B shown first."""
    out = []
    for ab, ba in zip(np.asarray(p_first_when_ab), np.asarray(p_first_when_ba), strict=True):
        a_wins_ab = ab > 0.5
        a_wins_ba = ba < 0.5  # with B first, A is in the second position
        preference = float((ab + (1 - ba)) / 2)
        if a_wins_ab == a_wins_ba:
            out.append(PairVerdict(preference, "a" if a_wins_ab else "b", False))
        else:
            out.append(PairVerdict(preference, "tie", True))
    return out


def position_bias_rate(results: Sequence[PairVerdict]) -> float:
    return sum(r.position_biased for r in results) / len(results) if results else 0.0


def agreement(results: Sequence[PairVerdict], human: Sequence[str]) -> dict[str, float | None]:
    """Judge-human agreement over pairs with a human preference; ties count as disagreement."""
    pairs = [(r.verdict, h) for r, h in zip(results, human, strict=True) if h in ("a", "b")]
    if not pairs:
        return {"judged_with_human": 0}
    decided = [(v, h) for v, h in pairs if v != "tie"]
    return {
        "judged_with_human": len(pairs),
        "agreement": sum(v == h for v, h in pairs) / len(pairs),
        "agreement_when_decided": (
            sum(v == h for v, h in decided) / len(decided) if decided else None
        ),
    }


RATING_SYSTEM = (
    "You are an impartial judge. Rate the assistant's response on a scale from 1 (very poor) "
    "to {top} (excellent). {rubric}Answer with one number."
)
RATING_USER = "Conversation:\n{prompt}\n\n[Response]\n{response}\n\nRating:"


def rating_messages(
    prompt: str, response: str, rubric: str = "", top: int = 5
) -> list[dict[str, str]]:
    system = RATING_SYSTEM.replace("{top}", str(top)).replace(
        "{rubric}", f"{rubric.strip()} " if rubric else ""
    )
    user = RATING_USER.replace("{prompt}", prompt[-MAX_CHARS:]).replace(
        "{response}", response[:MAX_CHARS]
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def expected_rating(option_logprobs: np.ndarray) -> np.ndarray:
    """Mean of the 1..K scale under the judge's distribution over the K rating tokens."""
    logits = np.atleast_2d(option_logprobs)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p @ np.arange(1, logits.shape[1] + 1)
