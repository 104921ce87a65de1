"""Labeling capacity, before and after, side by side in one run.

Two checkouts are measured, each in its own process and database (`labeling_probe.py`): the code
under test and the "before" (`common.before_checkout`). Per checkout:

1. `next` at 1%, 50% and 90% of a project labeled, through the whole API stack in one process:
   SQL statements, CPU-ms (Django + client, and the PostgreSQL backend) per label, latency;
2. annotators over HTTP against gunicorn (2 workers x 16 threads): closed-loop ("combined":
   submit asks for the next record in the same request, what the web page does) at rising
   concurrency, and paced ones (1-3 s per label, like fast humans) up to 256; labels/s, p50/p99
   per label, server CPU-ms per label, and the integrity check (0 over-assigned, 0 lost).

Label Studio's figures measured in issue 16 on this machine are drawn as reference lines.
"""

from __future__ import annotations

from bench.common import BENCH_DB, OUT, ROOT, before_checkout, checkout_probe, table
from bench.probe_setup import served_keepalive

# Issue 16, same machine and settings: Label Studio's closed-loop labels/s at 8-64 annotators.
LABEL_STUDIO_LABELS_PER_S = (10.5, 15.6)
GOAL_LABELS_PER_S = 200
GOAL_PACED_P99_MS = 50


def _probe(code, name: str, records: int, labels: int) -> dict:
    return checkout_probe(
        "labeling_probe.py",
        code,
        f"{BENCH_DB}_{name}_next",
        ["--records", str(records), "probe", "--labels", str(labels)],
    )


def _http(code, name: str, levels: str, modes: str, seconds: float) -> dict:
    return checkout_probe(
        "labeling_probe.py",
        code,
        f"{BENCH_DB}_{name}_http",
        ["--records", "60000", "http", "--levels", levels, "--modes", modes,
         "--seconds", str(seconds)],
    )  # fmt: skip


def load(seconds: float, levels: str, mode: str = "separate") -> dict:
    """Annotators over HTTP against the code under test only: `{mode}/{count}` -> figures, and
    `integrity` (what the reliability report reads)."""
    return _http(ROOT, "after", levels, mode, seconds)


def run(
    seconds: float,
    levels: str,
    paced_levels: str = "32,128,256",
    records: int = 200_000,
    labels: int = 100,
    before: str = "",
) -> tuple[dict, str]:
    old, new = before_checkout(before), ROOT
    results: dict = {"before_code": str(old)}
    # Interleaved, so load from other work on the machine falls on both alike.
    results["next_before"] = _probe(old, "before", records, labels)
    results["next_after"] = _probe(new, "after", records, labels)
    results["loop_before"] = _http(old, "before", levels, "combined", seconds)
    results["loop_after"] = _http(new, "after", levels, "combined", seconds)
    results["paced_before"] = _http(old, "before", paced_levels, "paced", seconds)
    results["paced_after"] = _http(new, "after", paced_levels, "paced", seconds)
    return results, report(results, seconds)


def report(results: dict, seconds: float) -> str:
    """The tables (and plots) of a `run`'s results."""
    _plots(results)
    return "\n\n".join([_next_table(results), _loop_table(results, seconds), _integrity(results)])


def _next_table(results: dict) -> str:
    rows = []
    before, after = results["next_before"]["fractions"], results["next_after"]["fractions"]
    for fraction in before:
        b, a = before[fraction], after[fraction]
        rows.append(
            [
                f"{float(fraction):.0%}",
                round(b["statements_per_label"], 1),
                round(a["statements_per_label"], 1),
                round(b["app_cpu_ms"] + b["db_cpu_ms"], 1),
                round(a["app_cpu_ms"] + a["db_cpu_ms"], 1),
                round(b["db_cpu_ms"], 1),
                round(a["db_cpu_ms"], 1),
                round(b["next_p50_ms"], 1),
                round(a["next_p50_ms"], 1),
                f"{b['next_p50_ms'] / a['next_p50_ms']:.2f}x",
            ]
        )
    first, last = next(iter(after)), list(after)[-1]
    flat = after[last]["next_p50_ms"] / after[first]["next_p50_ms"]
    was = before[last]["next_p50_ms"] / before[first]["next_p50_ms"]
    db_flat = after[last]["db_cpu_ms"] / after[first]["db_cpu_ms"]
    db_was = before[last]["db_cpu_ms"] / before[first]["db_cpu_ms"]
    return table(
        f"`next` as a project of {results['next_after']['records']:,} records fills up: one "
        "annotator through the API stack in one process (CPU-ms = Django + test client + "
        "PostgreSQL backend, per label = next + submit)",
        ["labeled", "stmts before", "stmts after", "CPU-ms before", "CPU-ms after",
         "DB CPU-ms before", "DB CPU-ms after", "next p50 ms before", "next p50 ms after",
         "next speed-up"],
        rows,
    ) + (
        f"\n`next` p50 at {float(last):.0%} / at {float(first):.0%} labeled: before {was:.2f}, "
        f"after {flat:.2f}; database CPU-ms per label, same ratio: before {db_was:.2f}, after "
        f"{db_flat:.2f} (goal: the same, ~1.0; latency also moves with the machine's load)"
    )  # fmt: skip


def _loop_table(results: dict, seconds: float) -> str:
    rows = []
    for mode, before, after in (
        ("closed loop", results["loop_before"], results["loop_after"]),
        ("paced 1-3 s", results["paced_before"], results["paced_after"]),
    ):
        for key in after:
            if key == "integrity":
                continue
            b, a = before[key], after[key]
            rows.append(
                [
                    mode,
                    a["annotators"],
                    round(b["labels_per_s"], 1),
                    round(a["labels_per_s"], 1),
                    f"{a['labels_per_s'] / b['labels_per_s']:.2f}x",
                    round(b["p99"], 1),
                    round(a["p99"], 1),
                    round(b["server_cpu_ms_per_label"], 1),
                    round(a["server_cpu_ms_per_label"], 1),
                    round(b["db_cpu_ms_per_label"], 1),
                    round(a["db_cpu_ms_per_label"], 1),
                    round(a["labels_per_s"] / LABEL_STUDIO_LABELS_PER_S[1], 1),
                ]
            )
    return table(
        f"Annotators over HTTP, gunicorn 2x16 (keep-alive {served_keepalive()} s, as curator "
        "serves), PostgreSQL, load generator on the same cores, "
        f"{seconds:.0f} s per level (paced: 3x as long). Goals: >= {GOAL_LABELS_PER_S} labels/s "
        f"closed loop; paced p99 < {GOAL_PACED_P99_MS} ms up to 256. Label Studio: "
        f"{LABEL_STUDIO_LABELS_PER_S[0]}-{LABEL_STUDIO_LABELS_PER_S[1]} labels/s (issue 16)",
        ["mode", "annotators", "labels/s before", "labels/s after", "ratio", "p99 ms before",
         "p99 ms after", "server CPU-ms/label before", "after", "DB CPU-ms/label before",
         "after", "x Label Studio (best)"],
        rows,
    )  # fmt: skip


def _integrity(results: dict) -> str:
    lines = []
    for name in ("loop_before", "loop_after", "paced_before", "paced_after"):
        check = results[name]["integrity"]
        lines.append(
            f"{name}: over-assigned {check['over_assigned_records']}, submitted "
            f"{check['submitted']}, stored {check['stored']}, lost "
            f"{check['submitted'] - check['stored']}"
        )
    return "Integrity (overlap 1): " + "; ".join(lines)


def _plots(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (capacity, paced, queue) = plt.subplots(1, 3, figsize=(15, 4))
    for name, style in (("before", "o--"), ("after", "o-")):
        loop = {k: v for k, v in results[f"loop_{name}"].items() if k != "integrity"}
        capacity.plot(
            [v["annotators"] for v in loop.values()],
            [v["labels_per_s"] for v in loop.values()],
            style,
            label=name,
        )
        slow = {k: v for k, v in results[f"paced_{name}"].items() if k != "integrity"}
        paced.plot(
            [v["annotators"] for v in slow.values()], [v["p99"] for v in slow.values()], style,
            label=name,
        )  # fmt: skip
        fractions = results[f"next_{name}"]["fractions"]
        queue.plot(
            [float(f) * 100 for f in fractions],
            [v["next_p50_ms"] for v in fractions.values()],
            style,
            label=name,
        )
    capacity.axhspan(*LABEL_STUDIO_LABELS_PER_S, color="grey", alpha=0.3, label="Label Studio")
    capacity.axhline(GOAL_LABELS_PER_S, color="green", linestyle=":", label="goal")
    capacity.set(xscale="log", xlabel="annotators (closed loop)", ylabel="labels/s")
    paced.axhline(GOAL_PACED_P99_MS, color="green", linestyle=":", label="goal")
    paced.set(
        xscale="log", yscale="log", xlabel="paced annotators (1-3 s per label)", ylabel="p99 ms"
    )
    queue.set(xlabel="% of the project labeled", ylabel="`next` p50 ms (one annotator)")
    for axis in (capacity, paced, queue):
        axis.legend()
    figure.tight_layout()
    figure.savefig(OUT / "labeling_capacity.png", dpi=120)
    plt.close(figure)
