"""The demo project's data, written by this module (the repo ships no third-party data).

Short movie-review sentences put together from hand-written parts, labeled by construction, so a
first round has something real to learn and the pool has easy and ambiguous cases.
"""

from __future__ import annotations

import itertools
import json
import random

SUBJECTS = [
    "the film",
    "this movie",
    "the script",
    "the lead performance",
    "the soundtrack",
    "the ending",
    "the cinematography",
    "the dialogue",
    "the pacing",
    "the cast",
    "the direction",
    "the story",
]
POSITIVE = [
    "is a delight",
    "is gorgeous and witty",
    "left me smiling for days",
    "is a triumph",
    "is moving and honest",
    "is sharp, funny and warm",
    "works beautifully",
    "is the best thing this year",
    "feels fresh and alive",
    "earns every tear",
]
NEGATIVE = [
    "is a tedious mess",
    "falls completely flat",
    "is dull and lifeless",
    "made me check my watch",
    "is clumsy and loud",
    "wastes a good idea",
    "is painfully predictable",
    "never finds its voice",
    "is an ordeal to sit through",
    "feels cheap and lazy",
]
MIXED = [
    "is fine, i suppose",
    "has moments, but not many",
    "is neither good nor bad",
    "could have been worse",
    "is pretty but empty",
    "tries hard and sometimes succeeds",
]
LABELS = [{"value": "positive", "name": "Positive"}, {"value": "negative", "name": "Negative"}]
GUIDELINES = (
    "Label the sentiment of the sentence towards the film.\n"
    "Positive: the writer likes it. Negative: the writer dislikes it.\n"
    "Mixed or lukewarm sentences: pick the side that dominates; skip if you truly cannot tell."
)


def _sentences(phrases: list[str], label: str | None) -> list[dict[str, str]]:
    rows = []
    for subject, phrase in itertools.product(SUBJECTS, phrases):
        row = {"text": f"{subject} {phrase}."}
        if label:
            row["label"] = label
        rows.append(row)
    return rows


def demo_splits(seed: int = 7) -> dict[str, list[dict[str, str]]]:
    """train (labeled seeds), gold (labeled, held out) and pool (unlabeled) rows."""
    rng = random.Random(seed)
    positive = _sentences(POSITIVE, "positive")
    negative = _sentences(NEGATIVE, "negative")
    rng.shuffle(positive)
    rng.shuffle(negative)
    mixed = [{"text": row["text"]} for row in _sentences(MIXED, None)]
    train = positive[:8] + negative[:8]
    gold = positive[8:28] + negative[8:28]
    pool = [{"text": row["text"]} for row in positive[28:] + negative[28:]] + mixed
    rng.shuffle(pool)
    return {"train": train, "gold": gold, "pool": pool}


def as_jsonl(rows: list[dict[str, str]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()
