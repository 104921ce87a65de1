"""Data efficiency: human labels each sampling strategy needs to reach the test score that
random labeling has at 1,000 labels, on SST-2 (binary) and the 3-class hate/offensive/neither
tweets. Both accuracy and macro-F1 are reported; on the tweets (77% "offensive") accuracy is
flat in the labels (a majority-class guess has 0.77), so macro-F1 is the figure that moves.

A simulated project: a simulated annotator answers with the data set's label; each round trains
the round's classifier (logistic regression on the bundled encoder's embeddings, the project's
`learning.train_classifier`), measures it on the project's gold set, and orders the pool with
the project's own `sampling.queue_order`; below COLD labels the cold start (typical batches)
orders it for every uncertainty strategy and `auto` (the project default), and `auto` then
chooses each round's strategy with the project's `strategy_choice.choose` from the gold
macro-F1 of earlier rounds, as the round job does. The first START labels are random (a
project's queue before its first round). Same embeddings, learner and seeds for every strategy;
the test set is never seen by any choice.
"""

from __future__ import annotations

import statistics
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bench.common import OUT, table
from bench.datasets import SETS, LabeledSet
from curator.algorithms.strategy_choice import COLD_START_LABELS

START, STEP, BUDGET, SEEDS = 20, 40, 1000, 10
COMMITTEE = 5
# Each uncertainty strategy starts cold (typical batches below COLD labels, the project default);
# "margin, no cold start" shows what the cold start brings.
STRATEGIES = ("random", "entropy", "hybrid", "committee", "margin", "margin, no cold start", "auto")
COLD = COLD_START_LABELS
SIZES = [*range(START, BUDGET, STEP), BUDGET]


def curve(data: LabeledSet, strategy: str, seed: int, canonical: bool = False) -> dict:
    """Test accuracy and macro-F1 after each round, and the strategy each round chose.

    `canonical`: the labeled rows in pool order (as the round job reads its snapshot, by record
    id) rather than in the order they were picked; the cold start's clustering sees its input
    in that order, so only then can a real project's rounds pick the very same records."""
    from sklearn.metrics import f1_score

    from curator.algorithms import learning, sampling, strategy_choice

    rng = np.random.default_rng(seed)
    labeled = [int(i) for i in rng.choice(len(data.pool_x), START, replace=False)]
    accuracies: list[float] = []
    f1s: list[float] = []
    evidence: list[strategy_choice.RoundEvidence] = []
    chosen: list[str] = []
    round_number = 0
    while True:
        rows = sorted(labeled) if canonical else labeled
        names = [str(v) for v in data.pool_y[rows]]
        if len(set(names)) < 2:  # a round needs two labels: keep drawing at random
            rest = np.setdiff1d(np.arange(len(data.pool_x)), labeled)
            labeled.append(int(rng.choice(rest)))
            continue
        round_number += 1
        model = learning.train_classifier(data.pool_x[rows], names, seed=0)
        predicted = np.array(model.predict(data.test_x))
        accuracies.append(float(np.mean(predicted == data.test_y)))
        f1s.append(float(f1_score(data.test_y, predicted, average="macro")))
        if len(labeled) >= BUDGET:
            return {"accuracy": accuracies, "macro_f1": f1s, "chosen": chosen, "labeled": labeled}
        rest = np.setdiff1d(np.arange(len(data.pool_x)), labeled)
        take = min(STEP, BUDGET - len(labeled))
        if strategy == "random":
            labeled += [int(i) for i in rng.choice(rest, take, replace=False)]
            continue
        used = strategy.split(",")[0]
        cold = strategy_choice.cold_start(len(labeled), COLD)
        if strategy == "auto":
            gold = float(
                f1_score(data.gold_y, np.array(model.predict(data.gold_x)), average="macro")
            )
            history = strategy_choice.outcomes(
                [*evidence, strategy_choice.RoundEvidence("", gold, len(labeled), "gold")]
            )
            used = (cold or strategy_choice.choose(history, seed=round_number)).strategy
            evidence.append(strategy_choice.RoundEvidence(used, gold, len(labeled), "gold"))
            chosen.append(used)
        elif cold and strategy in sampling.STRATEGIES:
            used = "typical"
        votes = None
        if used == "committee":
            committee = learning.train_committee(
                data.pool_x[rows], names, members=COMMITTEE, seed=round_number
            )
            votes = np.stack(
                [[model.labels.index(p) for p in m.predict(data.pool_x[rest])] for m in committee]
            )
        order = sampling.queue_order(
            used,
            model.predict_proba(data.pool_x[rest]),
            data.pool_x[rest],
            data.pool_x[rows],
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


def seed_list(text: str) -> list[int]:
    """Seeds from the command line: "10-19", "3,5,8" or a mix; empty: the default 0..SEEDS-1."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        first, _, last = part.partition("-")
        seeds += list(range(int(first), int(last or first) + 1))
    return seeds or list(range(SEEDS))


def run(
    seeds: int | list[int] = SEEDS, strategies: tuple[str, ...] = STRATEGIES, workers: int = 2
) -> tuple[dict, str]:
    seeds = list(range(seeds)) if isinstance(seeds, int) else seeds
    runs_by_set = curves(seeds, strategies, workers)
    results: dict[str, dict] = {"seeds": seeds}
    texts = []
    # Plots of other seeds than the default keep their own files.
    suffix = "" if seeds == list(range(SEEDS)) else f"_seeds{seeds[0]}-{seeds[-1]}"
    for name, runs in runs_by_set.items():
        results[name] = {m: summarise(runs, m) for m in ("accuracy", "macro_f1")}
        for metric in ("macro_f1", "accuracy"):
            texts.append(report(name, results[name][metric], seeds))
            _plot(name, runs, seeds, metric, suffix)
    return results, "\n\n".join(texts)


def curves(
    seeds: list[int], strategies: tuple[str, ...], workers: int = 2
) -> dict[str, dict[str, list[dict]]]:
    """Each data set's curves: strategy -> one curve per seed, in the order of `seeds`."""
    for load in SETS.values():  # embed once, before the workers read the cache
        load()
    jobs = [(n, s, seed) for n in SETS for s in strategies for seed in seeds]
    with ProcessPoolExecutor(workers) as pool:
        done = {(n, s, seed): r for n, s, seed, r in pool.map(_job, jobs)}
    return {n: {s: [done[n, s, seed] for seed in seeds] for s in strategies} for n in SETS}


def target(random_curves: list[dict], metric: str = "macro_f1") -> float:
    """Random labeling's score at BUDGET labels, averaged over seeds: what the others must reach."""
    return float(np.mean([r[metric][-1] for r in random_curves]))


def summarise(runs: dict[str, list[dict]], metric: str) -> dict:
    goal = target(runs["random"], metric)
    summary: dict = {"metric": metric, "sizes": SIZES, "random_at_1000": goal}
    for strategy, per_seed in runs.items():
        values = np.array([r[metric] for r in per_seed])
        mean = values.mean(axis=0)
        reaches = [reach(r[metric], goal) for r in per_seed]
        censored = [r if r is not None else BUDGET + STEP for r in reaches]  # "> 1000"
        chosen: dict[str, int] = {}
        for r in per_seed:
            for used in r["chosen"]:
                chosen[used] = chosen.get(used, 0) + 1
        summary[strategy] = {
            "mean": mean.tolist(),
            "std": values.std(axis=0).tolist(),
            "labels_to_reach_mean_curve": reach(mean.tolist(), goal),
            "labels_to_reach_per_seed": reaches,
            "labels_to_reach_mean": statistics.fmean(censored),
            "labels_to_reach_sd": statistics.pstdev(censored),
            "acc_at_100": float(mean[SIZES.index(100)]),
            "acc_at_500": float(mean[SIZES.index(500)]) if 500 in SIZES else None,
            "acc_at_1000": float(mean[-1]),
            "chosen": chosen,
        }
    return summary


def report(name: str, summary: dict, seeds: list[int]) -> str:
    rows = []
    for strategy in (k for k in summary if isinstance(summary[k], dict)):
        s = summary[strategy]
        reaches = s["labels_to_reach_per_seed"]
        numeric = [r for r in reaches if r is not None]
        spread = (
            f"{min(numeric)}..{'>1000' if None in reaches else max(numeric)}" if numeric else "-"
        )
        chosen = ", ".join(f"{k} {v}" for k, v in sorted(s["chosen"].items())) or "-"
        rows.append([
            strategy,
            f"{s['acc_at_100']:.3f}",
            f"{s['acc_at_500']:.3f}",
            f"{s['acc_at_1000']:.3f}",
            s["labels_to_reach_mean_curve"] or "> 1000",
            f"{s['labels_to_reach_mean']:.0f} ± {s['labels_to_reach_sd']:.0f}",
            spread,
            " ".join(str(r) if r is not None else ">1000" for r in reaches),
            chosen,
        ])  # fmt: skip
    metric = summary["metric"]
    return paired(summary) + "\n" + table(
        f"Labels to reach random's 1,000-label test {metric} "
        f"({summary['random_at_1000']:.3f}), {name}, {len(seeds)} seeds ({_seeds_text(seeds)}), "
        "MiniLM + logreg "
        "(per seed: > 1000 counted as 1040)",
        ["strategy", f"{metric}@100", "@500", "@1000", "mean curve", "per seed mean ± sd",
         "range", "per seed", "rounds chosen (auto)"],
        rows,
    )  # fmt: skip


def paired(summary: dict) -> str:
    """auto against the best fixed strategy, seed by seed (same seeds, same first labels)."""
    fixed = [k for k in summary if isinstance(summary[k], dict) and k not in ("random", "auto")]
    if "auto" not in summary or not fixed:
        return ""
    best = min(fixed, key=lambda k: summary[k]["labels_to_reach_mean"])

    def censored(k: str) -> list[int]:
        return [
            r if r is not None else BUDGET + STEP for r in summary[k]["labels_to_reach_per_seed"]
        ]

    differences = [a - b for a, b in zip(censored("auto"), censored(best), strict=True)]
    mean, sd = statistics.fmean(differences), statistics.stdev(differences)
    summary["auto_minus_best_fixed"] = {
        "best": best,
        "differences": differences,
        "mean": mean,
        "sd": sd,
        "se": sd / len(differences) ** 0.5,
    }
    return (
        f"auto - best fixed ({best}), labels, paired by seed: {mean:+.0f} ± {sd:.0f} "
        f"(standard error {sd / len(differences) ** 0.5:.0f}; per seed {differences})"
    )


def _seeds_text(seeds: list[int]) -> str:
    contiguous = seeds == list(range(seeds[0], seeds[-1] + 1))
    return f"{seeds[0]}-{seeds[-1]}" if contiguous else ",".join(map(str, seeds))


def _plot(
    name: str, runs: dict[str, list[dict]], seeds: list[int], metric: str, suffix: str = ""
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for strategy, per_seed in runs.items():
        values = np.array([r[metric] for r in per_seed])
        mean, std = values.mean(axis=0), values.std(axis=0)
        axis.plot(SIZES, mean, label=strategy)
        axis.fill_between(SIZES, mean - std, mean + std, alpha=0.12)
    axis.set_xlabel("human labels")
    axis.set_ylabel(f"{name} test {metric}")
    axis.set_title(f"Learning curves, {name} (seeds {_seeds_text(seeds)}, mean ± sd)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(OUT / f"learning_curves_{name}_{metric}{suffix}.png", dpi=120)
    plt.close(figure)
