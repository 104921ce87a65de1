"""One round on SST-2: 200 labels, 872 gold, a 5000-record pool; cold against cached embeddings."""

from __future__ import annotations

import time

from bench.common import sst2_sentences, table
from bench.run import jsonl


def run() -> tuple[dict, str]:
    from curator.models import Job, User
    from curator.services.imports import import_bytes
    from curator.services.projects import project_create
    from curator.services.rounds import round_start
    from workers.jobs.round import round_run
    from workers.runtime import job_claim

    admin = User.objects.create_user("bench-round-admin", is_superuser=True)
    project = project_create(name="round bench", labels=["negative", "positive"], created_by=admin)
    train = sst2_sentences("train")
    splits = {
        "train": [{"text": t, "label": label} for t, label in train[40000:40200]],
        "gold": [{"text": t, "label": label} for t, label in sst2_sentences("dev")],
        "pool": [{"text": t} for t, _ in train[50000:55000]],
    }
    for split, rows in splits.items():
        job = Job.objects.create(project=project, kind=Job.Kind.IMPORT)
        import_bytes(
            project=project,
            data=jsonl(rows),
            file_format="jsonl",
            split=split,
            job=job,
            filename=f"{split}.jsonl",
        )
    results = {}
    for name in ("cold", "cached"):
        round_ = round_start(project=project, user=admin)
        job = job_claim(Job.objects.get(round=round_).pk)
        started = time.perf_counter()
        metrics = round_run(job)
        results[name] = {"seconds": time.perf_counter() - started, **metrics}
    cold, cached = results["cold"], results["cached"]
    records = sum(len(rows) for rows in splits.values())
    text = (
        table(
            f"Round on SST-2 ({records} records: 200 labels, 872 gold, 5000 pool; real encoder)",
            ["run", "seconds", "embedded", "gold accuracy", "gold macro-F1"],
            [
                [name, r["seconds"], r["embeddings_computed"], r["accuracy"], r["macro_f1"]]
                for name, r in results.items()
            ],
        )
        + f"\ncached embeddings: {cached['seconds'] / cold['seconds']:.2f}x the cold time"
    )
    return results, text
