"""Data efficiency on SST-2: accuracy against human labels for random, entropy and hybrid sampling.

A simulated annotator answers with the SST-2 label. Same embeddings, classifier and seeds for
every strategy; only the choice of what to label next differs.
"""

from __future__ import annotations

import numpy as np

from bench.common import OUT, sst2_sentences, table

START, STEP, BUDGET, SEEDS, POOL = 20, 40, 1000, 5, 8000


def _curve(strategy: str, x: np.ndarray, y: np.ndarray, test_x, test_y, seed: int) -> list[float]:
    from curator.algorithms import learning, sampling

    rng = np.random.default_rng(seed)
    labeled = list(rng.choice(len(x), START, replace=False))
    accuracies = []
    while True:
        names = [str(v) for v in y[labeled]]
        if len(set(names)) < 2:  # keep drawing until both classes are seen
            labeled += list(rng.choice(np.setdiff1d(np.arange(len(x)), labeled), 1))
            continue
        model = learning.train_classifier(x[labeled], names, seed=seed)
        predicted = np.array(model.predict(test_x))
        accuracies.append(float((predicted == test_y.astype(str)).mean()))
        if len(labeled) >= BUDGET:
            return accuracies
        rest = np.setdiff1d(np.arange(len(x)), labeled)
        take = min(STEP, BUDGET - len(labeled))
        if strategy == "random":
            picks = rng.choice(rest, take, replace=False)
        else:
            uncertainty = sampling.entropy(model.predict_proba(x[rest]))
            if strategy == "entropy":
                picks = rest[sampling.rank_most_uncertain(uncertainty)[:take]]
            else:
                picks = rest[sampling.hybrid_batch(uncertainty, x[rest], x[labeled], take)]
        labeled += [int(i) for i in picks]


def run() -> tuple[dict, str]:
    from workers.inference.encoder import get_encoder

    encoder = get_encoder()
    rng = np.random.default_rng(0)
    train = [(t, label) for t, label in sst2_sentences("train") if len(t.split()) >= 6]
    train = [train[i] for i in rng.choice(len(train), POOL, replace=False)]
    dev = sst2_sentences("dev")
    x = encoder.encode([t for t, _ in train])
    y = np.array([label for _, label in train])
    test_x = encoder.encode([t for t, _ in dev])
    test_y = np.array([label for _, label in dev])
    sizes = [*range(START, BUDGET, STEP), BUDGET]
    curves: dict[str, np.ndarray] = {}
    for strategy in ("random", "entropy", "hybrid"):
        curves[strategy] = np.array(
            [_curve(strategy, x, y, test_x, test_y, seed) for seed in range(SEEDS)]
        )
    results: dict[str, object] = {"sizes": sizes}
    random_at_budget = curves["random"].mean(axis=0)[-1]
    rows = []
    for strategy, runs in curves.items():
        mean = runs.mean(axis=0)
        reach = next((s for s, a in zip(sizes, mean, strict=True) if a >= random_at_budget), None)
        area = float(np.trapezoid(mean, sizes) / (sizes[-1] - sizes[0]))
        results[strategy] = {
            "mean": mean.tolist(),
            "std": runs.std(axis=0).tolist(),
            "area": area,
            "labels_to_reach_random_1000": reach,
        }
        rows.append(
            [
                strategy,
                mean[sizes.index(100)] if 100 in sizes else mean[2],
                mean[len(sizes) // 2],
                mean[-1],
                area,
                reach or "> 1000",
            ]
        )
    _plot(sizes, curves)
    text = table(
        f"Data efficiency, SST-2 ({POOL} pool sentences, 872 dev), {SEEDS} seeds, MiniLM + logreg",
        [
            "strategy",
            f"acc@{sizes[2]}",
            f"acc@{sizes[len(sizes) // 2]}",
            "acc@1000",
            "area under curve",
            "labels to match random@1000",
        ],
        rows,
    )
    return results, text


def _plot(sizes: list[int], curves: dict[str, np.ndarray]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for strategy, runs in curves.items():
        mean, std = runs.mean(axis=0), runs.std(axis=0)
        axis.plot(sizes, mean, label=strategy)
        axis.fill_between(sizes, mean - std, mean + std, alpha=0.2)
    axis.set_xlabel("human labels")
    axis.set_ylabel("SST-2 dev accuracy")
    axis.set_title("Learning curves (5 seeds, mean ± std)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(OUT / "learning_curves.png", dpi=120)
    plt.close(figure)
