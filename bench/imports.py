"""Import and export rates, before and after, side by side in one run.

Each checkout (the code under test and the "before", `common.before_checkout`) runs
`io_probe.py` in its own process and database: the import of N short SST-2 records (the
worker's body: parse, COPY, insert, statistics) and the export of them, labeled, in every
format, at two sizes, so that memory can be seen to stay flat as the data grows.
"""

from __future__ import annotations

import json

from bench.common import BENCH_DB, OUT, ROOT, before_checkout, checkout_probe, sst2_sentences, table
from bench.probe_setup import PeakRss

__all__ = ["PeakRss", "run", "write_file"]

# Issue 16, same machine: Label Studio imported 100k records in 17.4 s and exported 10k labeled
# records in 13.2-13.7 s.
LABEL_STUDIO_IMPORT_PER_S = 100_000 / 17.4
LABEL_STUDIO_EXPORT_PER_S = (10_000 / 13.7, 10_000 / 13.2)
GOAL_IMPORT_PER_S = 50_000
GOAL_EXPORT_PER_S = 20_000
FORMATS = ("jsonl", "csv", "parquet", "hf")


def write_file(count: int) -> tuple[str, int]:
    """A JSONL file of `count` short SST-2 records under bench/out (other benches import it)."""
    sentences = sst2_sentences("train")
    path = OUT / f"import-{count}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            text, _ = sentences[i % len(sentences)]
            # Past the 67k real sentences, mark repeats so they are new records, not duplicates.
            if i >= len(sentences):
                text = f"{text} [{i // len(sentences)}]"
            out.write(json.dumps({"text": text}) + "\n")
    return str(path), path.stat().st_size


def run(records: int, before: str = "") -> tuple[dict, str]:
    small = max(1000, records // 4)
    sizes = f"{small},{records}"
    old = before_checkout(before)
    results = {
        "before_code": str(old),
        "before": checkout_probe("io_probe.py", old, f"{BENCH_DB}_before_io", ["--sizes", sizes]),
        "after": checkout_probe("io_probe.py", ROOT, f"{BENCH_DB}_after_io", ["--sizes", sizes]),
    }
    rows = []
    for step in ["import", *(f"export/{fmt}" for fmt in FORMATS)]:
        key = f"{step}/{records}"
        b, a = results["before"][key], results["after"][key]
        rate = "records_per_s" if step == "import" else "rows_per_s"
        goal = GOAL_IMPORT_PER_S if step == "import" else GOAL_EXPORT_PER_S
        studio = LABEL_STUDIO_IMPORT_PER_S if step == "import" else LABEL_STUDIO_EXPORT_PER_S[1]
        growth = results["after"][f"{step}/{small}"]["peak_rss_growth_mb"]
        rows.append(
            [
                step,
                round(b["seconds"], 2),
                round(a["seconds"], 2),
                round(b[rate]),
                round(a[rate]),
                f"{a[rate] / b[rate]:.2f}x",
                f"{a[rate] / goal:.2f}",
                f"{a[rate] / studio:.0f}x",
                round(b["app_cpu_s"] + b["db_cpu_s"], 2),
                round(a["app_cpu_s"] + a["db_cpu_s"], 2),
                round(records / (a["app_cpu_s"] + a["db_cpu_s"])),
                round(b["peak_rss_growth_mb"], 1),
                round(a["peak_rss_growth_mb"], 1),
                f"{a['peak_rss_growth_mb'] / growth:.2f}" if growth > 1 else "flat",
            ]
        )
    text = table(
        f"Import of {records:,} short SST-2 records and export of them labeled (PostgreSQL; "
        f"rates per second; goals: import >= {GOAL_IMPORT_PER_S:,}/s, export >= "
        f"{GOAL_EXPORT_PER_S:,}/s in every format, memory flat in the data size; Label Studio: "
        f"import 100k in 17.4 s, export 10k in 13.2-13.7 s, issue 16)",
        ["step", "s before", "s after", "rate before", "rate after", "speed-up", "of goal",
         "x Label Studio", "CPU-s before", "CPU-s after", "per CPU-s after", "RSS MB before",
         "RSS MB after",
         f"RSS {records // 1000}k / {small // 1000}k"],
        rows,
    ) + (
        "\nCPU-s: this process and its PostgreSQL backend together; 'per CPU-s' is the rate one "
        "free core would give (wall times suffer from whatever else the machine runs)."
        "\nRSS MB: peak growth of resident memory during the step; each export runs in a "
        "process of its own, so its figure is its own."
        f"\nReference, Label Studio on the same machine (issue 16): import 100,000 records in "
        f"17.4 s = {LABEL_STUDIO_IMPORT_PER_S:,.0f}/s; export 10,000 labeled records in "
        f"13.2-13.7 s = {LABEL_STUDIO_EXPORT_PER_S[0]:,.0f}-{LABEL_STUDIO_EXPORT_PER_S[1]:,.0f}/s."
        f"\nGoals (issue 16): import >= {GOAL_IMPORT_PER_S:,}/s, export >= "
        f"{GOAL_EXPORT_PER_S:,}/s in every format, memory flat in the data size."
    )  # fmt: skip
    _plot(results, records)
    return results, text


def _plot(results: dict, records: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = ["import", *(f"export/{fmt}" for fmt in FORMATS)]
    figure, axis = plt.subplots(figsize=(9, 4))
    width = 0.4
    for i, name in enumerate(("before", "after")):
        values = [
            results[name][f"{step}/{records}"][
                "records_per_s" if step == "import" else "rows_per_s"
            ]
            for step in steps
        ]
        axis.bar([x + i * width for x in range(len(steps))], values, width, label=name)
    axis.hlines(GOAL_IMPORT_PER_S, -0.3, 0.7, colors="green", linestyles=":", label="goal")
    axis.hlines(GOAL_EXPORT_PER_S, 0.7, len(steps) - 0.3, colors="green", linestyles=":")
    axis.hlines(LABEL_STUDIO_IMPORT_PER_S, -0.3, 0.7, colors="grey", label="Label Studio")
    axis.hlines(LABEL_STUDIO_EXPORT_PER_S[1], 0.7, len(steps) - 0.3, colors="grey")
    axis.set_xticks([x + width / 2 for x in range(len(steps))], steps)
    axis.set(yscale="log", ylabel="records (rows) per second", title=f"{records:,} records")
    axis.legend()
    figure.tight_layout()
    figure.savefig(OUT / "import_export.png", dpi=120)
    plt.close(figure)
