"""Toxicity ROC AUC before and after learning from 200 curator decisions.

Davidson et al. tweets: toxic = hate speech or offensive (the majority of annotators), clean =
neither. Each seed splits a fixed sample of tweets into a held-out set and a decision pool,
draws 200 decisions from the pool (a curator holding a toxic tweet or clearing a clean one),
fits the head (curator/algorithms/toxicity.py) on the tweets' all-MiniLM-L6-v2 embeddings and the
bundled n-gram scorer's score, and scores the held-out set with the base scorer alone and with
the head. "Insults without profanity": the held-out toxic tweets the base scorer puts below 0.5,
against all held-out clean ones.
"""

from __future__ import annotations

import json
import statistics

import numpy as np

from bench.common import OUT, table

SAMPLE = 5000
HELD_OUT = 2000
DECISIONS = 200
SEEDS = 10
THRESHOLD = 0.8


def _data() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(texts, toxic, base scores, embeddings) of a fixed sample, embeddings cached on disk."""
    from curator import public_data
    from workers.inference.encoder import get_encoder
    from workers.inference.toxicity import get_toxicity_scorer

    rows = public_data.tweets()
    picks = np.random.default_rng(0).choice(len(rows), SAMPLE, replace=False)
    texts = [rows[i]["text"] for i in picks]
    toxic = np.array([rows[i]["label"] != "neither" for i in picks])
    base = get_toxicity_scorer().score(texts)
    encoder = get_encoder()
    cache = OUT / f"toxicity_embeddings_{SAMPLE}.npy"
    if cache.exists():
        embeddings = np.load(cache)
    else:
        embeddings = encoder.encode(texts)
        np.save(cache, embeddings)
    return texts, toxic, base, embeddings


def _one_seed(toxic: np.ndarray, base: np.ndarray, x: np.ndarray, seed: int) -> dict:
    from sklearn.metrics import roc_auc_score

    from curator.algorithms import toxicity

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(toxic))
    held, pool = order[:HELD_OUT], order[HELD_OUT:]
    decided = rng.choice(pool, DECISIONS, replace=False)
    head = toxicity.fit_head(x[decided], base[decided], list(toxic[decided]))
    assert head is not None
    after = toxicity.head_scores(head, x[held], base[held])
    y = toxic[held]
    hard = (y & (base[held] < 0.5)) | ~y

    def recall(scores: np.ndarray) -> float:
        return float((scores[y] >= THRESHOLD).mean())

    def false_holds(scores: np.ndarray) -> float:
        return float((scores[~y] >= THRESHOLD).mean())

    return {
        "auc_before": float(roc_auc_score(y, base[held])),
        "auc_after": float(roc_auc_score(y, after)),
        "hard_auc_before": float(roc_auc_score(y[hard], base[held][hard])),
        "hard_auc_after": float(roc_auc_score(y[hard], after[hard])),
        "recall_before": recall(base[held]),
        "recall_after": recall(after),
        "false_holds_before": false_holds(base[held]),
        "false_holds_after": false_holds(after),
        "decisions_toxic": head.toxic,
    }


def _cell(values: list[float]) -> str:
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}"


def _plot(runs: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, prefix, title in (
        (axes[0], "auc", "held-out tweets"),
        (axes[1], "hard_auc", "insults without profanity vs clean"),
    ):
        for run in runs:
            axis.plot([0, 1], [run[f"{prefix}_before"], run[f"{prefix}_after"]], color="grey",
                      alpha=0.5, marker="o")  # fmt: skip
        axis.set_xticks([0, 1], ["base scorer", f"+ head ({DECISIONS} decisions)"])
        axis.set_ylabel("ROC AUC")
        axis.set_title(title)
    figure.tight_layout()
    figure.savefig(OUT / "toxicity.png", dpi=120)
    plt.close(figure)


def run(seeds: int = SEEDS) -> tuple[dict, str]:
    _, toxic, base, x = _data()
    runs = [_one_seed(toxic, base, x, seed) for seed in range(seeds)]
    rows = []
    for label, key in (
        ("ROC AUC, held-out", "auc"),
        ("ROC AUC, insults without profanity vs clean", "hard_auc"),
        (f"toxic recall at {THRESHOLD}", "recall"),
        (f"clean tweets held at {THRESHOLD}", "false_holds"),
    ):
        before = [r[f"{key}_before"] for r in runs]
        after = [r[f"{key}_after"] for r in runs]
        gain = [a - b for a, b in zip(after, before, strict=True)]
        rows.append([label, _cell(before), _cell(after), _cell(gain),
                     f"{min(gain):+.3f}..{max(gain):+.3f}"])  # fmt: skip
    text = table(
        f"Toxicity on {HELD_OUT} held-out Davidson tweets per seed, before and after learning "
        f"from {DECISIONS} decisions ({seeds} seeds, mean ± sd)",
        ["measure", "base scorer", "with head", "gain", "gain per seed"],
        rows,
    )
    _plot(runs)
    results = {"runs": runs, "decisions": DECISIONS, "held_out": HELD_OUT}
    (OUT / "toxicity.json").write_text(json.dumps(results, indent=2))
    return results, text


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "curator.settings")
    django.setup()
    OUT.mkdir(parents=True, exist_ok=True)
    print(run()[1])
