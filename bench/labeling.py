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
        except requests.RequestException:  # not listening yet, or still importing the app
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not start")


# How the simulated annotators loop. "separate": next, then submit (two requests per label);
# "combined": submit asks for the next record in the same request (what the web page does);
# "paced": combined, with a think time of 1-3 s per label, like a fast human.
MODES = {
    "separate": {"combined": False, "think": None},
    "combined": {"combined": True, "think": None},
    "paced": {"combined": True, "think": (1.0, 3.0)},
}


def _label_for(assignment: dict) -> str:
    return "positive" if len(assignment["record"]["payload"]["text"]) % 2 else "negative"


def _annotator(
    base: str, token: str, slug: str, until: float, out: list[float], mode: str, seed: int
) -> None:
    import random

    rng = random.Random(seed)
    combined, think = MODES[mode]["combined"], MODES[mode]["think"]
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    assignment = None
    while time.monotonic() < until:
        if think:
            time.sleep(rng.uniform(*think))  # reading and deciding: not server time
        started = time.perf_counter()
        if assignment is None:
            response = session.post(f"{base}/api/projects/{slug}/next/", timeout=30)
            if response.status_code == 204:
                return
            response.raise_for_status()
            assignment = response.json()
        response = session.post(
            f"{base}/api/projects/{slug}/assignments/{assignment['id']}/submit/",
            json={"label": _label_for(assignment), "next": combined},
            timeout=30,
        )
        response.raise_for_status()
        out.append((time.perf_counter() - started) * 1000)
        assignment = response.json().get("next") if combined else None
        if combined and assignment is None:
            return


def run(seconds: float, levels: str, modes: str = "separate,combined,paced") -> tuple[dict, str]:
    import io
    import json

    from django.db.models import Count
    from rest_framework.authtoken.models import Token

    from annotation.models import Annotation
    from curator.models import Job, Membership, Role, User
    from curator.services.imports import import_bytes
    from curator.services.projects import project_create

    counts = [int(n) for n in levels.split(",")]
    chosen = [m for m in modes.split(",") if m]
    admin = User.objects.create_user("bench-admin")
    project = project_create(
        name="labeling bench", labels=["negative", "positive"], created_by=admin
    )
    rows = "".join(json.dumps({"text": t}) + "\n" for t, _ in sst2_sentences("train")[:60000])
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
        for mode in chosen:
            # Paced annotators need longer to give as many samples.
            duration = seconds * (4 if MODES[mode]["think"] else 1)
            for count in counts:
                samples: list[list[float]] = [[] for _ in range(count)]
                until = time.monotonic() + duration
                threads = [
                    threading.Thread(
                        target=_annotator,
                        args=(base, tokens[i], project.slug, until, samples[i], mode, i),
                    )
                    for i in range(count)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                flat = [ms for annotator in samples for ms in annotator]
                results[f"{mode}/{count}"] = {
                    **summary(flat),
                    "labels_per_s": len(flat) / duration,
                    "mode": mode,
                    "annotators": count,
                }
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
    results["integrity"] = {"over_assigned_records": over, "submitted": done, "stored": stored}
    keys = [k for k in results if k != "integrity"]
    plot_bars(
        OUT / "labeling_latency.png",
        "label round trip (p50 / p95 / p99)",
        keys,
        {q: [results[k][q] for k in keys] for q in ("p50", "p95", "p99")},
        "ms",
    )
    text = (
        table(
            f"Labeling loop over HTTP, gunicorn 2x16, PostgreSQL, {seconds:.0f} s per level "
            "(paced: 4x as long). ms per label, request(s) included",
            ["mode", "annotators", "labels", "labels/s", "p50 ms", "p95 ms", "p99 ms"],
            [
                [
                    results[k]["mode"],
                    results[k]["annotators"],
                    results[k]["n"],
                    results[k]["labels_per_s"],
                    results[k]["p50"],
                    results[k]["p95"],
                    results[k]["p99"],
                ]
                for k in keys
            ],
        )
        + f"\nrecords over-assigned (labeled twice at overlap 1): {over}; "
        f"labels submitted {done}, stored {stored}, lost {done - stored}"
    )
    return results, text
