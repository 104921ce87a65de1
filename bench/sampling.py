"""Data efficiency: human labels each sampling strategy needs to reach the test accuracy that
random labeling has at 1,000 labels, on SST-2 (binary) and the 3-class hate/offensive/neither
tweets.

A simulated project: a simulated annotator answers with the data set's label; each round trains
the round's classifier (logistic regression on the bundled encoder's embeddings, the project's
`learning.train_classifier`), measures it on the project's gold set, and orders the pool with
the project's own `sampling.queue_order`; `auto` chooses each round's strategy with the
project's `strategy_choice.choose` from the gold accuracy of earlier rounds, as the round job
does. The first START labels are random (a project's queue before its first round). Same
embeddings, learner and seeds for every strategy; the test set is never seen by any choice.
"""

from __future__ import annotations

import statistics
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bench.common import OUT, table
from bench.datasets import SETS, LabeledSet

START, STEP, BUDGET, SEEDS = 20, 40, 1000, 10
COMMITTEE = 5
# "margin+cold": margin after a cold start of typical batches below COLD labels.
STRATEGIES = ("random", "entropy", "hybrid", "committee", "margin", "typical", "auto")
COLD = 100
SIZES = [*range(START, BUDGET, STEP), BUDGET]


def curve(data: LabeledSet, strategy: str, seed: int) -> dict:
    """Test accuracy after each round, and the strategy each round chose."""
    from curator.algorithms import learning, sampling, strategy_choice

    rng = np.random.default_rng(seed)
    labeled = [int(i) for i in rng.choice(len(data.pool_x), START, replace=False)]
    accuracies: list[float] = []
    evidence: list[strategy_choice.RoundEvidence] = []
    chosen: list[str] = []
    round_number = 0
    while True:
        names = [str(v) for v in data.pool_y[labeled]]
        if len(set(names)) < 2:  # a round needs two labels: keep drawing at random
            rest = np.setdiff1d(np.arange(len(data.pool_x)), labeled)
            labeled.append(int(rng.choice(rest)))
            continue
        round_number += 1
        model = learning.train_classifier(data.pool_x[labeled], names, seed=0)
        accuracies.append(float(np.mean(np.array(model.predict(data.test_x)) == data.test_y)))
        if len(labeled) >= BUDGET:
            return {"accuracy": accuracies, "chosen": chosen}
        rest = np.setdiff1d(np.arange(len(data.pool_x)), labeled)
        take = min(STEP, BUDGET - len(labeled))
        if strategy == "random":
            labeled += [int(i) for i in rng.choice(rest, take, replace=False)]
            continue
        used = strategy
        if strategy == "auto":
            gold = float(np.mean(np.array(model.predict(data.gold_x)) == data.gold_y))
            history = strategy_choice.outcomes(
                [*evidence, strategy_choice.RoundEvidence("", gold, len(labeled), "gold")]
            )
            used = strategy_choice.choose(history, seed=round_number).strategy
            evidence.append(strategy_choice.RoundEvidence(used, gold, len(labeled), "gold"))
            chosen.append(used)
        elif strategy == "margin+cold":
            used = "typical" if len(labeled) < COLD else "margin"
        votes = None
        if used == "committee":
            committee = learning.train_committee(
                data.pool_x[labeled], names, members=COMMITTEE, seed=round_number
            )
            votes = np.stack(
                [[model.labels.index(p) for p in m.predict(data.pool_x[rest])] for m in committee]
            )
        order = sampling.queue_order(
            used,
            model.predict_proba(data.pool_x[rest]),
            data.pool_x[rest],
            data.pool_x[labeled],
            take,
            votes=votes,
            seed=round_number,
        )
        labeled += [int(rest[i]) for i in order.first(take)]


def _job(args: tuple[str, str, int]) -> tuple[str, str, int, dict]:
    name, strategy, seed = args
    return name, strategy, seed, curve(SETS[name](), strategy, seed)


def reach(accuracies: list[float], target: float) -> int | None:
    return next((s for s, a in zip(SIZES, accuracies, strict=True) if a >= target), None)


def run(
    seeds: int = SEEDS, strategies: tuple[str, ...] = STRATEGIES, workers: int = 2
) -> tuple[dict, str]:
    for load in SETS.values():  # embed once, before the workers read the cache
        load()
    jobs = [(n, s, seed) for n in SETS for s in strategies for seed in range(seeds)]
    with ProcessPoolExecutor(workers) as pool:
        done = list(pool.map(_job, jobs))
    results: dict[str, dict] = {}
    texts = []
    for name in SETS:
        runs = {
            s: [r for n, s2, _, r in sorted(done, key=lambda d: d[2]) if n == name and s2 == s]
            for s in strategies
        }
        results[name] = summarise(runs)
        texts.append(report(name, results[name], seeds))
        _plot(name, runs, seeds)
    return results, "\n\n".join(texts)


def summarise(runs: dict[str, list[dict]]) -> dict:
    target = float(np.mean([r["accuracy"][-1] for r in runs["random"]]))
    summary: dict = {"sizes": SIZES, "random_at_1000": target}
    for strategy, per_seed in runs.items():
        curves = np.array([r["accuracy"] for r in per_seed])
        mean = curves.mean(axis=0)
        reaches = [reach(r["accuracy"], target) for r in per_seed]
        censored = [r if r is not None else BUDGET + STEP for r in reaches]  # "> 1000"
        chosen: dict[str, int] = {}
        for r in per_seed:
            for used in r["chosen"]:
                chosen[used] = chosen.get(used, 0) + 1
        summary[strategy] = {
            "mean": mean.tolist(),
            "std": curves.std(axis=0).tolist(),
            "labels_to_reach_mean_curve": reach(mean.tolist(), target),
            "labels_to_reach_per_seed": reaches,
            "labels_to_reach_mean": statistics.fmean(censored),
            "labels_to_reach_sd": statistics.pstdev(censored),
            "acc_at_100": float(mean[SIZES.index(100)]),
            "acc_at_500": float(mean[SIZES.index(500)]) if 500 in SIZES else None,
            "acc_at_1000": float(mean[-1]),
            "chosen": chosen,
        }
    return summary


def report(name: str, summary: dict, seeds: int) -> str:
    rows = []
    for strategy in (k for k in summary if isinstance(summary[k], dict)):
        s = summary[strategy]
        per_seed = [r if r is not None else ">1000" for r in s["labels_to_reach_per_seed"]]
        numeric = [r for r in s["labels_to_reach_per_seed"] if r is not None]
        rows.append([
            strategy,
            f"{s['acc_at_100']:.3f}",
            f"{s['acc_at_500']:.3f}",
            f"{s['acc_at_1000']:.3f}",
            s["labels_to_reach_mean_curve"] or "> 1000",
            f"{s['labels_to_reach_mean']:.0f} ± {s['labels_to_reach_sd']:.0f}",
            f"{min(numeric) if numeric else '-'}..{max(per_seed, key=str) if per_seed else '-'}",
            " ".join(str(p) for p in per_seed),
        ])  # fmt: skip
    return table(
        f"Labels to reach random's 1,000-label test accuracy ({summary['random_at_1000']:.3f}), "
        f"{name}, {seeds} seeds, MiniLM + logreg (per seed: > 1000 counted as 1040)",
        ["strategy", "acc@100", "acc@500", "acc@1000", "mean curve", "per seed mean ± sd",
         "range", "per seed"],
        rows,
    )  # fmt: skip


def _plot(name: str, runs: dict[str, list[dict]], seeds: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for strategy, per_seed in runs.items():
        curves = np.array([r["accuracy"] for r in per_seed])
        mean, std = curves.mean(axis=0), curves.std(axis=0)
        axis.plot(SIZES, mean, label=strategy)
        axis.fill_between(SIZES, mean - std, mean + std, alpha=0.12)
    axis.set_xlabel("human labels")
    axis.set_ylabel(f"{name} test accuracy")
    axis.set_title(f"Learning curves, {name} ({seeds} seeds, mean ± sd)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(OUT / f"learning_curves_{name}.png", dpi=120)
    plt.close(figure)
