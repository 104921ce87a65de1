"""Flywheel benchmarks: rounds with a simulated annotator, lineage at 1M records, export rate.

- A 5-round flywheel on SST-2: each round trains, then the simulated annotator labels the next
  100 records the queue serves (the round's hybrid sampling), answering with the true label.
  Side by side, a random-sampling flywheel with the same budget labels 100 random records per
  round. Gold accuracy against human labels, 3 seeds.
- Lineage queries (ancestors, descendants, a record's whole history, a round diff) on a project
  of 1M records with 50k lineage edges in chains.
- Export rate for 100k labeled records in each format.
"""

from __future__ import annotations

import io
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import OUT, sst2_sentences, summary, table
from bench.run import plot_bars

ROUNDS, BATCH, SEEDS, POOL, SEED_LABELS = 5, 100, 3, 6000, 20


def _import(project, rows: list[dict], split: str) -> None:
    from curator.models import Job
    from curator.services.imports import import_bytes

    data = io.BytesIO("".join(json.dumps(r) + "\n" for r in rows).encode())
    job = Job.objects.create(project=project, kind=Job.Kind.IMPORT)
    import_bytes(project=project, data=data, file_format="jsonl", split=split, job=job,
                 filename="bench.jsonl")  # fmt: skip


def _round(project, admin) -> float:
    from curator.models import Job
    from curator.services.rounds import round_start
    from workers.jobs.round import round_run
    from workers.runtime import job_claim

    round_ = round_start(project=project, user=admin)
    return round_run(job_claim(Job.objects.get(round=round_).pk))["accuracy"]


def flywheel_curves() -> dict:
    from annotation.models import Annotation
    from annotation.services.annotations import annotation_submit
    from annotation.services.assignment import next_assignment
    from curator.models import Membership, Record, Role, User
    from curator.services.projects import project_create

    train = sst2_sentences("train")
    gold = [{"text": t, "label": label} for t, label in sst2_sentences("dev")]
    curves: dict[str, list[list[float]]] = {"flywheel (hybrid)": [], "random, same budget": []}
    for seed in range(SEEDS):
        rng = random.Random(seed)
        pool = rng.sample(train, POOL + SEED_LABELS)
        truth = dict(pool)
        for name in curves:
            admin = User.objects.create_user(f"fly-{seed}-{len(curves[name])}-{name[:6]}")
            project = project_create(
                name=f"flywheel {name} {seed}", labels=["negative", "positive"],
                created_by=admin,
                settings={"gold_rate": 0, "sampling": "hybrid", "batch_size": BATCH,
                          "score_toxicity_on_import": False, "gate_contamination": False},
            )  # fmt: skip
            annotator = User.objects.create_user(f"sim-{project.pk}")
            Membership.objects.create(user=annotator, project=project, role=Role.ANNOTATOR)
            _import(project, gold, "gold")
            _import(project, [{"text": t, "label": y} for t, y in pool[:SEED_LABELS]], "train")
            _import(project, [{"text": t} for t, _ in pool[SEED_LABELS:]], "pool")
            points = [_round(project, admin)]
            for _ in range(ROUNDS - 1):
                if name.startswith("flywheel"):
                    for _ in range(BATCH):
                        assignment = next_assignment(project, annotator)
                        answer = truth[assignment.record.payload["text"]]
                        annotation_submit(assignment=assignment, user=annotator, value=answer)
                else:
                    unlabeled = list(
                        Record.objects.filter(
                            project=project, split="pool", annotations=None
                        ).values_list("id", "payload")
                    )
                    for record_id, payload in rng.sample(unlabeled, BATCH):
                        Annotation.objects.create(
                            record_id=record_id, project=project, source="human",
                            author=annotator, value=truth[payload["text"]],
                        )  # fmt: skip
                points.append(_round(project, admin))
            curves[name].append(points)
    labels = [SEED_LABELS + BATCH * r for r in range(ROUNDS)]
    means = {name: [statistics.fmean(c[r] for c in runs) for r in range(ROUNDS)]
             for name, runs in curves.items()}  # fmt: skip
    return {"labels": labels, "means": means, "runs": curves}


def lineage_at_scale(records: int = 1_000_000, edges: int = 50_000) -> dict:
    from bench.imports import write_file
    from curator import lineage
    from curator.importing.parsers import parse
    from curator.models import Job, LineageEdge, Record, Round, RoundSnapshotItem, User
    from curator.services import round_lifecycle
    from curator.services.imports import import_rows
    from curator.services.projects import project_create

    admin = User.objects.create_user("lineage-bench")
    project = project_create(name="lineage at scale", labels=["a", "b"], created_by=admin)
    path, _ = write_file(records)
    job = Job.objects.create(project=project, kind=Job.Kind.IMPORT)
    with open(path, "rb") as handle:
        import_rows(project=project, rows=parse(handle, "jsonl"), split="pool", job=job,
                    filename="million.jsonl")  # fmt: skip
    ids = list(Record.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    # Chains of 5: each record derived from the one before (10k chains, 50k edges).
    LineageEdge.objects.bulk_create(
        [LineageEdge(parent_id=ids[i], child_id=ids[i + 1], operation="rewrite")
         for start in range(0, edges // 5 * 6, 6) for i in range(start, start + 5)],
        batch_size=10_000,
    )  # fmt: skip
    rounds = []
    for number in (1, 2):
        # Finished rounds for the lineage queries: moved as a worker would move them.
        round_ = Round.objects.create(project=project, number=number)
        round_lifecycle.round_begin(round_.pk)
        round_lifecycle.round_succeed(round_.pk)
        rounds.append(round_)
    annotation_model = __import__("annotation.models", fromlist=["Annotation"]).Annotation
    labeled = ids[:20_000]
    annotations = annotation_model.objects.bulk_create(
        [annotation_model(record_id=r, project=project, value="a", source="import")
         for r in labeled], batch_size=10_000,
    )  # fmt: skip
    for round_, share in zip(rounds, (slice(0, 15_000), slice(5_000, 20_000)), strict=True):
        RoundSnapshotItem.objects.bulk_create(
            [RoundSnapshotItem(round=round_, record_id=a.record_id, annotation=a, label="a")
             for a in annotations[share]], batch_size=10_000,
        )  # fmt: skip
    rng = random.Random(0)
    middles = [ids[rng.randrange(edges // 5) * 6 + 2] for _ in range(100)]

    def timed(call) -> dict:
        samples = []
        for record_id in middles:
            started = time.perf_counter()
            call(record_id)
            samples.append((time.perf_counter() - started) * 1000)
        return summary(samples)

    figures = {
        "ancestors": timed(lineage.ancestors),
        "descendants": timed(lineage.descendants),
        "record history": timed(lambda pk: lineage.record_history(Record.objects.get(pk=pk))),
        "rounds that used a record": timed(lineage.rounds_using),
    }
    started = time.perf_counter()
    diff = lineage.round_diff(rounds[0], rounds[1])
    figures["round diff (15k vs 15k)"] = {
        **summary([(time.perf_counter() - started) * 1000]),
        "added": len(diff["added"]), "removed": len(diff["removed"]),
    }  # fmt: skip
    return {"records": records, "edges": LineageEdge.objects.filter(child__project=project).count(),
            "latency_ms": figures}  # fmt: skip


def export_rate(rows: int = 100_000) -> dict:
    from curator.models import User
    from curator.services.exports import FORMATS, export_write
    from curator.services.projects import project_create

    admin = User.objects.create_user("export-bench")
    project = project_create(name="export", labels=["negative", "positive"], created_by=admin)
    sentences = sst2_sentences("train")
    _import(project, [{"text": f"{t} [{i}]" if i >= len(sentences) else t, "label": y}
                      for i, (t, y) in ((i, sentences[i % len(sentences)]) for i in range(rows))],
            "train")  # fmt: skip
    figures = {}
    for fmt in FORMATS:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            manifest = export_write(project, Path(folder), fmt)
            seconds = time.perf_counter() - started
        figures[fmt] = {"rows": manifest["rows"], "seconds": seconds,
                        "rows_per_s": manifest["rows"] / seconds}  # fmt: skip
    return figures


def run() -> tuple[dict, str]:
    curves = flywheel_curves()
    at_scale = lineage_at_scale()
    exports = export_rate()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for name, means in curves["means"].items():
        axis.plot(curves["labels"], means, marker="o", label=name)
    axis.set_xlabel("human labels")
    axis.set_ylabel("gold accuracy (SST-2 dev)")
    axis.set_title(f"{ROUNDS}-round flywheel, {SEEDS} seeds")
    axis.legend()
    figure.tight_layout()
    figure.savefig(OUT / "flywheel.png", dpi=120)
    plt.close(figure)
    plot_bars(OUT / "export_rate.png", "export rate", list(exports),
              {"rows/s": [f["rows_per_s"] for f in exports.values()]}, "rows/s")  # fmt: skip
    names = list(curves["means"])
    text = "\n\n".join([
        table(
            f"Flywheel on SST-2: {ROUNDS} rounds, {BATCH} labels per round, simulated annotator "
            f"answering the true label, gold = dev (872), mean of {SEEDS} seeds",
            ["round", "human labels", *names, "difference"],
            [[r + 1, curves["labels"][r], *[curves["means"][n][r] for n in names],
              curves["means"][names[0]][r] - curves["means"][names[1]][r]]
             for r in range(ROUNDS)],
        ),
        table(
            f"Lineage queries, {at_scale['records']:,} records, {at_scale['edges']:,} edges "
            "(100 records from the middle of 5-long chains)",
            ["query", "p50 ms", "p95 ms", "p99 ms"],
            [[name, f["p50"], f["p95"], f["p99"]] for name, f in at_scale["latency_ms"].items()],
        ),
        table(
            "Export, 100k labeled records",
            ["format", "rows", "seconds", "rows/s"],
            [[fmt, f["rows"], f["seconds"], f["rows_per_s"]] for fmt, f in exports.items()],
        ),
    ])  # fmt: skip
    return {"flywheel": curves, "lineage": at_scale, "export": exports}, text
