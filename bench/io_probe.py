"""Import and export rates of one checkout of curator, in its own process and database.

Run by `bench/imports.py` for the code under test and for a checkout of main (the "before"), so
both are measured side by side in one run on the same file. Imports only that checkout.

    python bench/io_probe.py --code DIR --db NAME --sizes 25000,100000

Per size: import of that many short SST-2 records (the worker's body: parse, COPY, insert) and
export of them, labeled, in every format; seconds, CPU seconds of this process and of its
PostgreSQL backend, and the peak growth of this process's resident memory. Each export runs in
a child process of its own (the libraries it uses loaded before it starts), so its memory
growth is its own: in this process, memory that earlier steps freed and Python kept would
hide part of it. Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from probe_setup import PeakRss, cpu_seconds, setup_checkout

FORMATS = ("jsonl", "csv", "parquet", "hf")


def _file(count: int, offset: int) -> bytes:
    """`count` labeled SST-2 lines; `offset` makes each size's records its own."""
    from curator import public_data

    sentences = public_data.sst2("train")
    lines = []
    for i in range(count):
        text, label = sentences[i % len(sentences)]
        text = f"{text} [{offset}.{i // len(sentences)}]"
        lines.append(json.dumps({"text": text, "label": label}))
    return ("\n".join(lines) + "\n").encode()


def _measured(step, backend: int) -> tuple[object, dict]:
    import gc

    gc.collect()
    with PeakRss() as rss:
        started, cpu, db = time.perf_counter(), time.process_time(), cpu_seconds(backend)
        result = step()
        figures = {
            "seconds": time.perf_counter() - started,
            "app_cpu_s": time.process_time() - cpu,
            "db_cpu_s": cpu_seconds(backend) - db,
        }
    figures["peak_rss_growth_mb"] = rss.growth_mb
    return result, figures


def _backend() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def export_once(project_id: int, fmt: str, target: Path) -> dict:
    """One export, measured in this (child) process."""
    import datasets  # noqa: F401 - loaded before the measure, as a worker has it loaded
    import pyarrow.parquet  # noqa: F401

    from curator.models import Project
    from curator.services.exports import export_write

    project = Project.objects.get(pk=project_id)
    backend = _backend()
    manifest, figures = _measured(lambda: export_write(project, target, fmt=fmt), backend)
    figures["rows"] = manifest["rows"]
    figures["rows_per_s"] = manifest["rows"] / figures["seconds"]
    return figures


def _export_in_child(args: argparse.Namespace, project_id: int, fmt: str, target: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--code", str(args.code), "--db", args.db, "--pg", args.pg,
         "--export", f"{project_id}:{fmt}:{target}"],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"export {fmt} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(sizes: list[int], args: argparse.Namespace) -> dict:
    from curator.models import Job, User
    from curator.services.imports import import_bytes
    from curator.services.projects import project_create

    user = User.objects.create_user("bench-io")
    backend = _backend()
    out: dict = {}
    scratch = Path(tempfile.mkdtemp(prefix="io-probe-"))
    try:
        for n, size in enumerate(sizes):
            data = _file(size, n)
            project = project_create(
                name=f"io probe {size}", labels=["negative", "positive"], created_by=user
            )
            job = Job.objects.create(project=project, kind=Job.Kind.IMPORT)

            def load(project=project, job=job, data=data):
                return import_bytes(
                    project=project, data=io.BytesIO(data), file_format="jsonl", split="pool",
                    job=job, filename="bench.jsonl",
                )  # fmt: skip

            result, figures = _measured(load, backend)
            figures["records"] = result.created
            figures["records_per_s"] = size / figures["seconds"]
            out[f"import/{size}"] = figures
            for fmt in FORMATS:
                target = scratch / f"{size}-{fmt}"
                out[f"export/{fmt}/{size}"] = _export_in_child(args, project.pk, fmt, target)
                shutil.rmtree(target, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code", type=Path, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--sizes", default="25000,100000")
    parser.add_argument("--export", default="", help="PROJECT:FORMAT:FOLDER, in a child")
    args = parser.parse_args()
    args.code = args.code.resolve()
    if args.export:
        project_id, fmt, target = args.export.split(":", 2)
        setup_checkout(args.code, args.db, args.pg, fresh=False)
        print(json.dumps(export_once(int(project_id), fmt, Path(target))))
        return
    setup_checkout(args.code, args.db, args.pg)
    # The children connect while this process keeps its connection: their reads see it all.
    print(json.dumps(run([int(s) for s in args.sizes.split(",")], args)))


if __name__ == "__main__":
    main()
