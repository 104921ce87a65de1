"""Import rate and memory: PostgreSQL COPY against the portable bulk_create path, same file."""

from __future__ import annotations

import json
import threading
import time

import psutil

from bench.common import OUT, sst2_sentences, table
from bench.run import plot_bars


def write_file(count: int) -> tuple[str, int]:
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


class PeakRss:
    """Samples this process's resident memory while the block runs."""

    def __enter__(self) -> PeakRss:
        self.process = psutil.Process()
        self.baseline = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 2**20


def run(records: int) -> tuple[dict, str]:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from curator.importing.parsers import parse
    from curator.models import Job
    from curator.services import imports as service
    from curator.services.projects import project_create

    assert connection.vendor == "postgresql"
    user = get_user_model().objects.create_user("bench-importer")
    path, size = write_file(records)
    results: dict[str, object] = {"file_mb": size / 2**20}
    for name in ("copy", "bulk_create"):
        project = project_create(
            name=f"import {name}", labels=["negative", "positive"], created_by=user
        )
        job = Job.objects.create(project=project, kind=Job.Kind.IMPORT)
        with open(path, "rb") as handle, PeakRss() as rss:
            started = time.perf_counter()
            rows = parse(handle, "jsonl")
            with transaction.atomic():
                if name == "copy":
                    result = service._import_postgresql(project, rows, "pool", job, "bench.jsonl")
                else:
                    result = service._import_portable(project, rows, "pool", job, "bench.jsonl")
            seconds = time.perf_counter() - started
        assert result.rows == records, result  # SST-2 repeats a few phrases: those are skipped
        results[name] = {
            "seconds": seconds,
            "records_per_s": records / seconds,
            "peak_rss_growth_mb": rss.growth_mb,
        }
    copy, bulk = results["copy"], results["bulk_create"]
    results["copy_speedup"] = copy["records_per_s"] / bulk["records_per_s"]
    plot_bars(
        OUT / "import.png",
        f"Import of {records:,} records",
        ["records/s"],
        {"copy": [copy["records_per_s"]], "bulk_create": [bulk["records_per_s"]]},
        "records/s",
    )
    text = (
        table(
            f"Import of {records:,} SST-2 records ({size / 2**20:.1f} MB JSONL, PostgreSQL)",
            ["path", "seconds", "records/s", "peak RSS growth MB"],
            [
                [name, r["seconds"], round(r["records_per_s"]), round(r["peak_rss_growth_mb"], 1)]
                for name, r in (("copy", copy), ("bulk_create", bulk))
            ],
        )
        + f"\nCOPY imports at {results['copy_speedup']:.2f}x the rate of batched bulk_create."
    )
    return results, text
