"""`make bench`: import rate, labeling latency under concurrency, encoder throughput, round time.

Each figure is measured side by side with a baseline in the same run and reported as a ratio.
"""

from __future__ import annotations

import argparse
import io
import json
import time

from bench.common import OUT, setup_django, table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000, help="records to import")
    parser.add_argument("--seconds", type=float, default=8.0, help="per concurrency level")
    parser.add_argument("--annotators", default="1,8,32,64")
    parser.add_argument("--paced-annotators", default="32,128,256")
    parser.add_argument(
        "--capacity-records", type=int, default=200_000, help="records of the `next` probe"
    )
    parser.add_argument(
        "--before",
        default="",
        help="the code measured as 'before' (a folder, or a git ref; default common.BEFORE_REF)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated sections: import,labeling,embedding,round,"
        "sampling,sampling_job,noise,llm,llm_training,llm_flywheel,curation,flywheel,data_manager,"
        "routing,toxicity (default: all; curation includes noise)",
    )
    parser.add_argument(
        "--flywheel-seeds", type=int, default=0, help="seeds of the LLM flywheel (default 2)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke-test settings where a section has them"
    )
    parser.add_argument(
        "--sampling-seeds",
        default="",
        help='seeds of the sampling section: "10-19", "0,3" (default 0-9)',
    )
    parser.add_argument(
        "--sampling-strategies",
        default="",
        help="comma-separated strategies of the sampling "
        "section (default: all of bench/sampling.py's STRATEGIES)",
    )
    parser.add_argument(
        "--sampling-job-seeds", default="", help='seeds of the sampling_job section (default "0")'
    )
    parser.add_argument(
        "--dm-records", type=int, default=1_000_000, help="records in the data manager's project"
    )
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    setup_django()
    from bench import (
        curation,
        data_manager,
        embedding,
        flywheel,
        imports,
        labeling,
        llm,
        llm_flywheel,
        llm_training,
        rounds,
        routing,
        sampling,
        sampling_job,
        toxicity,
    )

    only = {name for name in args.only.split(",") if name}

    results: dict[str, object] = {}
    report: list[str] = []
    for name, module, kwargs in [
        ("import", imports, {"records": args.records, "before": args.before}),
        (
            "labeling",
            labeling,
            {
                "seconds": args.seconds,
                "levels": args.annotators,
                "paced_levels": args.paced_annotators,
                "records": args.capacity_records,
                "before": args.before,
            },
        ),
        ("embedding", embedding, {}),
        ("round", rounds, {}),
        (
            "sampling",
            sampling,
            {
                "seeds": sampling.seed_list(args.sampling_seeds),
                "strategies": tuple(
                    args.sampling_strategies.split(",")
                    if args.sampling_strategies
                    else sampling.STRATEGIES
                ),
            },
        ),
        (
            "sampling_job",
            sampling_job,
            {"seeds": sampling.seed_list(args.sampling_job_seeds or "0"), "quick": args.quick},
        ),
        ("noise", _Section(curation.noise_section), {}),
        ("llm", llm, {}),
        ("llm_training", llm_training, {}),
        ("llm_flywheel", llm_flywheel, {"seeds": args.flywheel_seeds or None, "quick": args.quick}),
        ("curation", curation, {}),
        ("flywheel", flywheel, {}),
        ("data_manager", data_manager, {"records": 20_000 if args.quick else args.dm_records}),
        # --quick: the classifier signal alone (the LLM scores ~1 text/s on a shared CPU).
        ("routing", routing, {"with_llm": not args.quick}),
        ("toxicity", toxicity, {}),
    ]:
        if (only and name not in only) or (not only and name == "noise"):
            continue  # all sections: noise runs inside curation
        started = time.monotonic()
        result, text = module.run(**kwargs)
        results[name] = result
        report.append(text + f"\n({name}: {time.monotonic() - started:.1f} s)\n")
        print(report[-1], flush=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (OUT / "report.txt").write_text("\n".join(report))
    print(f"results in {OUT / 'results.json'}, plots in {OUT}")


class _Section:
    """A section that is one function of a module rather than the module's `run`."""

    def __init__(self, run) -> None:
        self.run = run


def plot_bars(path, title: str, labels: list[str], series: dict[str, list[float]], unit: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        axis.bar([x + i * width for x in range(len(labels))], values, width, label=name)
    axis.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))], labels)
    axis.set_ylabel(unit)
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def jsonl(rows: list[dict]) -> io.BytesIO:
    return io.BytesIO("".join(json.dumps(r) + "\n" for r in rows).encode())


if __name__ == "__main__":
    main()

__all__ = ["jsonl", "plot_bars", "table"]
