"""The labeled data sets the learning benches share, embedded once by the bundled encoder.

Each set is split into a pool (what the simulated annotators label), a gold set (what a project's
rounds measure themselves on, as a project's gold records do) and a test set (what the benchmark
reports, never seen by any choice). The embeddings are cached under bench/out by the encoder's
identity and the texts' digest, so later runs only read them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from bench.common import OUT
from curator import public_data

POOL, GOLD, TWEETS_TEST = 6000, 300, 2000


@dataclass(frozen=True)
class LabeledSet:
    name: str
    pool_x: np.ndarray
    pool_y: np.ndarray  # label names
    gold_x: np.ndarray
    gold_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    # The texts behind pool_x and gold_x, for benches that import them into a real project.
    pool_text: tuple[str, ...] = ()
    gold_text: tuple[str, ...] = ()

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.pool_y.tolist()))


def _embed(name: str, texts: list[str]) -> np.ndarray:
    from workers.inference.encoder import get_encoder

    encoder = get_encoder()
    digest = hashlib.sha256("\n".join([encoder.identity, *texts]).encode()).hexdigest()[:16]
    path = OUT / f"embeddings-{name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    vectors = np.asarray(encoder.encode(texts), dtype=np.float32)
    OUT.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def _split(name: str, rows: list[tuple[str, str]], test: list[tuple[str, str]]) -> LabeledSet:
    texts = [t for t, _ in rows] + [t for t, _ in test]
    x = _embed(name, texts)
    y = np.array([label for _, label in rows] + [label for _, label in test])
    pool, gold = slice(0, POOL), slice(POOL, POOL + GOLD)
    rest = slice(POOL + GOLD, len(texts))
    return LabeledSet(
        name, x[pool], y[pool], x[gold], y[gold], x[rest], y[rest],
        tuple(texts[pool]), tuple(texts[gold]),
    )  # fmt: skip


def sst2() -> LabeledSet:
    """Binary sentiment: pool and gold from train sentences of 6+ words, test = GLUE dev."""
    rng = np.random.default_rng(0)
    train = [(t, label) for t, label in public_data.sst2("train") if len(t.split()) >= 6]
    train = [train[i] for i in rng.choice(len(train), POOL + GOLD, replace=False)]
    return _split("sst2", train, public_data.sst2("dev"))


def tweets() -> LabeledSet:
    """3-class hate / offensive / neither tweets (imbalanced: 6% hate), one shuffled split."""
    rng = np.random.default_rng(0)
    rows = [(r["text"], r["label"]) for r in public_data.tweets()]
    rows = [rows[i] for i in rng.choice(len(rows), POOL + GOLD + TWEETS_TEST, replace=False)]
    return _split("tweets", rows[: POOL + GOLD], rows[POOL + GOLD :])


SETS = {"sst2": sst2, "tweets": tweets}
