"""Labeling latency: simulated annotators loop next-record -> submit against a gunicorn server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from bench.common import OUT, ROOT, sst2_sentences, summary, table
from bench.run import plot_bars


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server(port: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_CONN_MAX_AGE": "60"}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "curator.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "16",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def _annotator(base: str, token: str, slug: str, until: float, out: list[float]) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    while time.monotonic() < until:
        started = time.perf_counter()
        response = session.post(f"{base}/api/projects/{slug}/next/", timeout=30)
        if response.status_code == 204:
            return
        response.raise_for_status()
        assignment = response.json()
        label = "positive" if len(assignment["record"]["payload"]["text"]) % 2 else "negative"
        session.post(
            f"{base}/api/projects/{slug}/assignments/{assignment['id']}/submit/",
            json={"label": label},
            timeout=30,
        ).raise_for_status()
        out.append((time.perf_counter() - started) * 1000)


def run(seconds: float, levels: str) -> tuple[dict, str]:
    import io
    import json

    from django.db.models import Count
    from rest_framework.authtoken.models import Token

    from annotation.models import Annotation
    from curator.models import Job, Membership, Role, User
    from curator.services.imports import import_bytes
    from curator.services.projects import project_create

    counts = [int(n) for n in levels.split(",")]
    admin = User.objects.create_user("bench-admin")
    project = project_create(
        name="labeling bench", labels=["negative", "positive"], created_by=admin
    )
    rows = "".join(json.dumps({"text": t}) + "\n" for t, _ in sst2_sentences("train")[:30000])
    job = Job.objects.create(project=project, kind=Job.Kind.IMPORT)
    import_bytes(
        project=project,
        data=io.BytesIO(rows.encode()),
        file_format="jsonl",
        split="pool",
        job=job,
        filename="bench.jsonl",
    )
    tokens = []
    for i in range(max(counts)):
        user = User.objects.create_user(f"bench-annotator-{i}")
        Membership.objects.create(user=user, project=project, role=Role.ANNOTATOR)
        tokens.append(Token.objects.create(user=user).key)

    port = _free_port()
    server = _server(port)
    base = f"http://127.0.0.1:{port}"
    results: dict[str, dict] = {}
    try:
        for count in counts:
            samples: list[list[float]] = [[] for _ in range(count)]
            until = time.monotonic() + seconds
            threads = [
                threading.Thread(
                    target=_annotator, args=(base, tokens[i], project.slug, until, samples[i])
                )
                for i in range(count)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            flat = [ms for annotator in samples for ms in annotator]
            results[str(count)] = {**summary(flat), "labels_per_s": len(flat) / seconds}
    finally:
        server.terminate()
        server.wait(timeout=20)
    over = (
        Annotation.objects.filter(project=project, source="human")
        .values("record")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    stored = Annotation.objects.filter(project=project, source="human").count()
    done = sum(r["n"] for r in results.values())
    base_p50 = results[str(counts[0])]["p50"]
    for r in results.values():
        r["p50_vs_1"] = r["p50"] / base_p50
    results["integrity"] = {"double_labeled_records": over, "submitted": done, "stored": stored}
    plot_bars(
        OUT / "labeling_latency.png",
        "next + submit latency",
        [f"{c} annotators" for c in counts],
        {q: [results[str(c)][q] for c in counts] for q in ("p50", "p95", "p99")},
        "ms",
    )
    text = (
        table(
            f"Labeling loop: next + submit over HTTP, gunicorn 2x16, PostgreSQL, {seconds:.0f} s",
            ["annotators", "loops", "labels/s", "p50 ms", "p95 ms", "p99 ms", "p50 vs 1"],
            [
                [
                    c,
                    results[str(c)]["n"],
                    results[str(c)]["labels_per_s"],
                    results[str(c)]["p50"],
                    results[str(c)]["p95"],
                    results[str(c)]["p99"],
                    results[str(c)]["p50_vs_1"],
                ]
                for c in counts
            ],
        )
        + f"\nrecords labeled twice: {over}; labels submitted {done}, stored {stored}"
    )
    return results, text
