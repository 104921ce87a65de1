"""Curation benchmarks: dedup throughput, label-noise detection quality, generation rate.

- Near-duplicate (MinHash LSH) and exact dedup over 100k texts: the SST-2 train sentences plus
  one-word variants of some of them; LSH is compared with exhaustive Jaccard on a subset.
- Semantic dedup (k-means clusters, all-pairs cosine inside each) over real MiniLM embeddings,
  compared with all-pairs cosine on the same vectors.
- Label-noise detection on SST-2 and the 3-class tweets with 10% of labels flipped at random,
  10 seeds: precision, recall and F1 of cleanlab's filters on one out-of-fold model and on an
  ensemble of five, against flagging every disagreement of the out-of-fold classifier.
- Synthetic items per minute with the bundled LLM, one prompt at a time against batches.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import time

import numpy as np

from bench.common import OUT, sst2_sentences, table
from bench.run import plot_bars

COMPARE_SEMANTIC = 20_000


def _variants(texts: list[str], count: int, seed: int = 0) -> list[str]:
    """One word swapped in each of `count` texts: near duplicates that are not exact."""
    rng = random.Random(seed)
    out = []
    for text in rng.sample(texts, count):
        words = text.split()
        if len(words) >= 4:
            words[rng.randrange(len(words))] = rng.choice(["film", "movie", "story", "plot"])
        out.append(" ".join(words) + " .")
    return out


def dedup(records: int, semantic_records: int) -> tuple[dict, list[list]]:
    from curator.algorithms import curation
    from workers.inference.encoder import get_encoder

    train = [t for t, _ in sst2_sentences("train")]
    texts = (train + _variants(train, max(0, records - len(train))))[:records]
    ids = list(range(len(texts)))
    figures: dict[str, dict] = {}

    started = time.perf_counter()
    exact = curation.exact_duplicates(texts, ids)
    seconds = time.perf_counter() - started
    figures["exact"] = {"records": len(texts), "seconds": seconds, "dropped": len(exact)}

    started = time.perf_counter()
    near = curation.near_duplicates(texts, ids, threshold=0.8)
    seconds = time.perf_counter() - started
    figures["near_lsh"] = {"records": len(texts), "seconds": seconds, "dropped": len(near)}

    # Exhaustive Jaccard on a subset, side by side with LSH on the same subset.
    subset = texts[:3000]
    shingles = [curation.shingles(t) for t in subset]
    started = time.perf_counter()
    brute = set()
    for i in range(len(subset)):
        for j in range(i):
            if j in brute:
                continue
            union = len(shingles[i] | shingles[j])
            if union and len(shingles[i] & shingles[j]) / union >= 0.8:
                brute.add(i)
                break
    brute_seconds = time.perf_counter() - started
    started = time.perf_counter()
    lsh = {d.index for d in curation.near_duplicates(subset, list(range(len(subset))), 0.8)}
    lsh_seconds = time.perf_counter() - started
    figures["near_subset"] = {
        "records": len(subset),
        "brute_seconds": brute_seconds,
        "lsh_seconds": lsh_seconds,
        "speedup": brute_seconds / lsh_seconds,
        "lsh_recall_of_brute": len(lsh & brute) / len(brute) if brute else None,
        "brute_found": len(brute),
    }

    encoder = get_encoder()
    sample = texts[:semantic_records]
    started = time.perf_counter()
    vectors = encoder.encode(sample)
    embed_seconds = time.perf_counter() - started
    started = time.perf_counter()
    everything = curation.semantic_duplicates(vectors, list(range(len(sample))), 0.95)
    everything_seconds = time.perf_counter() - started
    # All pairs need n^2 memory: compared on the first 20k only, both methods side by side.
    head = vectors[:COMPARE_SEMANTIC]
    started = time.perf_counter()
    clustered = curation.semantic_duplicates(head, list(range(len(head))), 0.95)
    clustered_seconds = time.perf_counter() - started
    started = time.perf_counter()
    exhaustive = curation.semantic_duplicates(
        head, list(range(len(head))), 0.95, cluster_size=len(head)
    )
    exhaustive_seconds = time.perf_counter() - started
    found = {d.index for d in exhaustive}
    figures["semantic"] = {
        "records": len(sample),
        "embed_seconds": embed_seconds,
        "seconds": everything_seconds,
        "dropped": len(everything),
        "compared_records": len(head),
        "clustered_seconds": clustered_seconds,
        "all_pairs_seconds": exhaustive_seconds,
        "speedup": exhaustive_seconds / clustered_seconds,
        "recall_of_all_pairs": (
            len({d.index for d in clustered} & found) / len(found) if found else None
        ),
    }
    rows = [
        ["exact (normalised text)", len(texts), len(texts) / figures["exact"]["seconds"],
         figures["exact"]["dropped"], "-"],
        ["near-duplicate, MinHash LSH", len(texts), len(texts) / figures["near_lsh"]["seconds"],
         figures["near_lsh"]["dropped"], "-"],
        ["near-duplicate, LSH vs exhaustive (3k)", len(subset), len(subset) / lsh_seconds,
         len(lsh), f"{figures['near_subset']['speedup']:.0f}x faster, recall "
         f"{figures['near_subset']['lsh_recall_of_brute']:.3f}"],
        ["semantic, clustered", len(sample), len(sample) / everything_seconds, len(everything),
         "-"],
        [f"semantic, clustered vs all pairs ({len(head) // 1000}k)", len(head),
         len(head) / clustered_seconds, len(clustered),
         f"{figures['semantic']['speedup']:.1f}x faster, recall "
         f"{figures['semantic']['recall_of_all_pairs'] or 0:.3f}"],
        ["(embedding for semantic, MiniLM CPU)", len(sample), len(sample) / embed_seconds, "-",
         "-"],
    ]  # fmt: skip
    return figures, rows


NOISE_METHODS = {
    # name: (filter, out-of-fold repeats, neighbours)
    "confident_learning": ("confident_learning", 1, 0),
    "prune_by_noise_rate": ("prune_by_noise_rate", 1, 0),
    "both": ("both", 1, 0),
    "ensemble (5 OOF) + confident_learning": ("confident_learning", 5, 0),
    "ensemble (5 OOF) + prune_by_noise_rate": ("prune_by_noise_rate", 5, 0),
    "ensemble (5 OOF) + both": ("both", 5, 0),
    "ensemble (logreg + 25-NN, 5 OOF) + both": ("both", 5, 25),
    "balanced logreg + confident_learning (before)": ("confident_learning", 1, -1),
}
# neighbours -1: the class-balanced round learner the job used before (the issue's baseline).


def _flip(truth: np.ndarray, classes: list[str], share: float, rng) -> tuple[list[str], set[int]]:
    """Flip `share` of the labels, each to another class drawn uniformly."""
    flipped = set(rng.choice(len(truth), int(len(truth) * share), replace=False).tolist())
    given = [
        str(rng.choice([c for c in classes if c != y])) if i in flipped else str(y)
        for i, y in enumerate(truth)
    ]
    return given, flipped


def _scores(found: set[int], flipped: set[int]) -> tuple[float, float, float]:
    hits = len(found & flipped)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(flipped)
    return precision, recall, (2 * precision * recall / (precision + recall) if hits else 0.0)


def _out_of_fold(features, given: list[str], seed: int, repeats: int, neighbours: int):
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from curator.algorithms import learning

    if neighbours >= 0:
        return learning.out_of_fold_probabilities(
            features, given, seed=seed, repeats=repeats, neighbours=neighbours
        )
    classes = sorted(set(given))
    target = np.array([classes.index(label) for label in given])
    splitter = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    balanced = learning._logistic_regression(seed, learning.NOISE_C)
    return classes, cross_val_predict(
        balanced, features, target, cv=splitter, method="predict_proba"
    )


def noise(seeds: int, size: int) -> tuple[dict, list[list]]:
    """P/R/F1 of each cleanlab filter, on one out-of-fold model and on an ensemble of five,
    with 10% of the labels flipped, on SST-2 and the 3-class tweets (the first `size` pool
    records of bench/datasets.py)."""
    from bench.datasets import SETS
    from curator.algorithms import curation

    summary: dict[str, dict] = {}
    table_rows: list[list] = []
    for name, load in SETS.items():
        data = load()
        features, truth = data.pool_x[:size], data.pool_y[:size]
        results: dict[str, list[tuple[float, float, float]]] = {
            m: [] for m in [*NOISE_METHODS, "every OOF disagreement"]
        }
        for seed in range(seeds):
            given, flipped = _flip(truth, data.classes, 0.1, np.random.default_rng(seed))
            probabilities_of = {
                (repeats, neighbours): _out_of_fold(features, given, seed, repeats, neighbours)
                for _, repeats, neighbours in NOISE_METHODS.values()
            }
            for method, (filter_by, repeats, neighbours) in NOISE_METHODS.items():
                classes, probabilities = probabilities_of[repeats, neighbours]
                found = {
                    issue.index
                    for issue in curation.label_issues(given, classes, probabilities, filter_by)
                }
                results[method].append(_scores(found, flipped))
            classes, probabilities = probabilities_of[1, 0]
            disagree = {
                i for i in range(size) if classes[int(np.argmax(probabilities[i]))] != given[i]
            }
            results["every OOF disagreement"].append(_scores(disagree, flipped))
        summary[name] = {
            method: {
                metric: {
                    "mean": statistics.fmean(v[k] for v in values),
                    "sd": statistics.pstdev(v[k] for v in values),
                    "min": min(v[k] for v in values),
                    "max": max(v[k] for v in values),
                }
                for k, metric in enumerate(("precision", "recall", "f1"))
            }
            for method, values in results.items()
        }
        for method in results:
            figures = summary[name][method]
            default = NOISE_METHODS.get(method) == (
                curation.NOISE_FILTER, curation.NOISE_OOF_REPEATS, curation.NOISE_NEIGHBOURS
            )  # fmt: skip
            table_rows.append([
                name,
                method + (" (default)" if default else ""),
                *[f"{figures[m]['mean']:.3f} ± {figures[m]['sd']:.3f}"
                  for m in ("precision", "recall", "f1")],
                f"{figures['f1']['min']:.3f}..{figures['f1']['max']:.3f}",
            ])  # fmt: skip
    return summary, table_rows


# "What would a stronger learner need?": out-of-fold probabilities of a calibrated stand-in
# learner of each accuracy on the true labels (its errors independent of the flips, which
# flatters it), through the default filter.
STAND_IN_ACCURACIES = (0.8, 0.85, 0.9, 0.95, 0.98)
NOISE_F1_GOAL = 0.75


def noise_needed(seeds: int, size: int) -> tuple[dict, list[list]]:
    """F1 of the default filter for a calibrated stand-in learner of each accuracy, 10% of
    the labels flipped, on both data sets: the learner accuracy the F1 goal needs."""
    from bench.datasets import SETS
    from bench.routing import simulated_llm
    from curator.algorithms import curation

    summary: dict[str, dict] = {}
    rows: list[list] = []
    for name, load in SETS.items():
        data = load()
        truth = data.pool_y[:size]
        classes = data.classes
        index = np.array([classes.index(label) for label in truth])
        summary[name] = {}
        for accuracy in STAND_IN_ACCURACIES:
            f1 = []
            for seed in range(seeds):
                given, flipped = _flip(truth, classes, 0.1, np.random.default_rng(seed))
                probabilities = simulated_llm(
                    index, len(classes), accuracy, np.random.default_rng(3000 + seed)
                )
                found = {
                    issue.index
                    for issue in curation.label_issues(
                        given, classes, probabilities, curation.NOISE_FILTER
                    )
                }
                f1.append(_scores(found, flipped)[2])
            summary[name][str(accuracy)] = f1
            rows.append([
                name, accuracy, f"{statistics.fmean(f1):.3f} ± {statistics.pstdev(f1):.3f}",
                f"{min(f1):.3f}..{max(f1):.3f}",
                "yes" if statistics.fmean(f1) >= NOISE_F1_GOAL else "no",
            ])  # fmt: skip
    return summary, rows


def noise_section(seeds: int = 10, size: int = 4000) -> tuple[dict, str]:
    """`make bench --only noise`: label-noise detection alone, with its plot, and the learner
    accuracy the F1 goal would need."""
    from curator.algorithms import curation

    figures, rows = noise(seeds, size)
    needed, needed_rows = noise_needed(seeds, size)
    for name, methods in figures.items():
        plot_bars(
            OUT / f"noise_detection_{name}.png",
            f"label-noise detection, {name}, 10% flipped ({seeds} seeds)",
            ["precision", "recall", "F1"],
            {m: [methods[m][k]["mean"] for k in ("precision", "recall", "f1")] for m in methods},
            "score",
        )
    text = table(
        f"Label-noise detection, {size} records, 10% flipped, {seeds} seeds "
        "(mean ± sd, F1 range over seeds), MiniLM + logreg out of fold",
        ["data", "method", "precision", "recall", "F1", "F1 per seed"],
        rows,
    )
    text += "\n\n" + table(
        f"What noise detection needs from its learner: a calibrated stand-in learner of each "
        f"out-of-fold accuracy through cleanlab `{curation.NOISE_FILTER}`, {seeds} seeds "
        f"(goal F1 ≥ {NOISE_F1_GOAL})",
        ["data", "learner accuracy", "F1", "F1 per seed", "goal met"],
        needed_rows,
    )
    return {**figures, "stand_in_learner_f1": needed}, text


def generation(items: int) -> tuple[dict, list[list]]:
    from workers.inference.llm import get_llm
    from workers.jobs.generate import TEMPLATES, _clean

    llm = get_llm()
    seeds = [t for t, _ in sst2_sentences("dev")][:items]
    prompts = [
        [{"role": "user", "content": TEMPLATES["rewrite"].replace("{label}", "positive")
          .replace("{text}", text)}]
        for text in seeds
    ]  # fmt: skip
    figures = {}
    default = llm.place
    for batch in (1, 8):
        llm.place = dataclasses.replace(default, batch_size=batch)
        started = time.perf_counter()
        replies = llm.generate(prompts, max_new_tokens=60, temperature=0.8)
        seconds = time.perf_counter() - started
        llm.place = default
        usable = sum(bool(_clean(r)) for r in replies)
        figures[str(batch)] = {
            "items": len(prompts),
            "usable": usable,
            "seconds": seconds,
            "items_per_minute": 60 * len(prompts) / seconds,
        }
    rows = [
        [batch, f["items"], f["usable"], f["items_per_minute"], f"{f['seconds']:.1f}"]
        for batch, f in figures.items()
    ]
    return {"device": llm.place.device, "by_batch": figures}, rows


def run(
    records: int = 100_000, semantic_records: int = 100_000, seeds: int = 10
) -> tuple[dict, str]:
    dedup_figures, dedup_rows = dedup(records, semantic_records)
    noise_figures, noise_text = noise_section(seeds)
    generation_figures, generation_rows = generation(16)
    text = "\n\n".join(
        [
            table(
                "Dedup throughput (CPU, this machine)",
                ["method", "records", "records/s", "dropped", "side by side"],
                dedup_rows,
            ),
            noise_text,
            table(
                f"Synthetic generation, bundled SmolLM2-135M on {generation_figures['device']}, "
                "60 new tokens",
                ["batch", "items", "usable", "items/min", "seconds"],
                generation_rows,
            ),
        ]
    )
    return {
        "dedup": dedup_figures,
        "noise": noise_figures,
        "generation": generation_figures,
    }, text
