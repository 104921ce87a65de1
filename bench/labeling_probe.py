"""One labeling measurement against one checkout of curator, in its own process and database.

Run by `bench/labeling.py` once for the code under test and once for a checkout of main (the
"before"), so both are measured side by side in one run, on the same data, each on the schema
its own migrations make. It imports only the checkout it is pointed at (plus the standard
library, requests and psycopg), so it works against code that predates it.

    python bench/labeling_probe.py --code DIR --db NAME probe --records N --fractions 0.01,0.5,0.9
    python bench/labeling_probe.py --code DIR --db NAME http --levels 1,8,32 --modes combined

Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from probe_setup import cpu_seconds, served_keepalive, setup_checkout

LABELS = ["negative", "positive"]
# The labeled part is spread over this many people, the probed annotator among them.
HISTORY_ANNOTATORS = 8


def _texts(count: int) -> list[str]:
    from curator import public_data

    sentences = [text for text, _ in public_data.sst2("train")]
    out = []
    for i in range(count):
        text = sentences[i % len(sentences)]
        out.append(text if i < len(sentences) else f"{text} [{i // len(sentences)}]")
    return out


def _project(records: int, annotators: int):
    """A classification project with `records` pool records and `annotators` token holders."""
    import io

    from rest_framework.authtoken.models import Token

    from curator.models import Job, Membership, Role, User
    from curator.services.imports import import_bytes
    from curator.services.projects import project_create

    admin = User.objects.create_user("bench-admin")
    project = project_create(name="labeling probe", labels=LABELS, created_by=admin)
    rows = "".join(json.dumps({"text": t}) + "\n" for t in _texts(records))
    job = Job.objects.create(project=project, kind=Job.Kind.IMPORT)
    result = import_bytes(
        project=project,
        data=io.BytesIO(rows.encode()),
        file_format="jsonl",
        split="pool",
        job=job,
        filename="bench.jsonl",
    )
    users, tokens = [], []
    for i in range(annotators):
        user = User.objects.create_user(f"bench-annotator-{i}")
        Membership.objects.create(user=user, project=project, role=Role.ANNOTATOR)
        users.append(user)
        tokens.append(Token.objects.create(user=user).key)
    return project, users, tokens, result.created


def _fill(project, users, upto: float) -> int:
    """Mark the first `upto` of the queue as labeled (claimed and submitted, spread over the
    history annotators): the state a project is in after that much labeling, made in SQL."""
    from django.db import connection

    from annotation.models import Assignment
    from curator.models import Record

    record, assignment = Record._meta.db_table, Assignment._meta.db_table
    ids = [u.pk for u in users]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {record} WHERE project_id = %s", [project.pk])  # noqa: S608
        total = cursor.fetchone()[0]
        target = int(total * upto)
        cursor.execute(
            f"SELECT count(*) FROM {record} WHERE project_id = %s AND claimed_count > 0",  # noqa: S608
            [project.pk],
        )
        done = cursor.fetchone()[0]
        if target > done:
            cursor.execute(
                f"""
                WITH chosen AS (
                    SELECT id FROM {record}
                    WHERE project_id = %s AND claimed_count = 0 AND split = 'pool'
                    ORDER BY priority DESC, id LIMIT %s
                ), claimed AS (
                    UPDATE {record} r SET claimed_count = 1 FROM chosen WHERE r.id = chosen.id
                    RETURNING r.id
                )
                INSERT INTO {assignment}
                    (record_id, project_id, annotator_id, state, lease_expires_at, skip_reason,
                     created_at, finished_at)
                SELECT id, %s, (%s::bigint[])[1 + id %% %s], 'submitted', now(), '', now(), now()
                FROM claimed
                """,  # noqa: S608 - table names from model metadata
                [project.pk, target - done, project.pk, ids, len(ids)],
            )
        # VACUUM too: the fill is one UPDATE of up to 180k records, whose dead row versions
        # stay in the queue's index until vacuumed and made `next` at 90% cost 1.2-1.5x that
        # at 1% (measured both ways); labeling them one by one leaves autovacuum at most 20%
        # of the table to clean at a time.
        cursor.execute(f"VACUUM ANALYZE {record}")
        cursor.execute(f"VACUUM ANALYZE {assignment}")
    return target


def probe(records: int, fractions: list[float], labels: int) -> dict:
    """Per fraction labeled: statements, CPU-ms (this process = server + client, and the
    PostgreSQL backend) per label, and `next` / submit latency, through the whole API stack."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    project, users, tokens, created = _project(records, HISTORY_ANNOTATORS)
    client = Client(HTTP_AUTHORIZATION=f"Token {tokens[0]}", HTTP_HOST="127.0.0.1")
    base = f"/api/projects/{project.slug}"
    out: dict = {"records": created, "fractions": {}}
    for fraction in fractions:
        _fill(project, users, fraction)
        for _ in range(5):  # warm the caches and the connection
            assignment = client.post(f"{base}/next/").json()
            client.post(
                f"{base}/assignments/{assignment['id']}/submit/",
                {"label": LABELS[0]},
                content_type="application/json",
            )
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        next_ms, submit_ms = [], []
        statements = {"next": 0, "submit": 0}
        cpu_before, pg_before = time.process_time(), cpu_seconds(backend)
        for _ in range(labels):
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as asked:
                response = client.post(f"{base}/next/")
            middle = time.perf_counter()
            assert response.status_code == 200, response.status_code
            assignment = response.json()
            with CaptureQueriesContext(connection) as submitted:
                response = client.post(
                    f"{base}/assignments/{assignment['id']}/submit/",
                    {"label": LABELS[len(assignment["record"]["payload"]["text"]) % 2]},
                    content_type="application/json",
                )
            assert response.status_code == 201, response.status_code
            next_ms.append((middle - started) * 1000)
            submit_ms.append((time.perf_counter() - middle) * 1000)
            statements["next"] += len(asked)
            statements["submit"] += len(submitted)
        cpu = time.process_time() - cpu_before
        pg = cpu_seconds(backend) - pg_before
        out["fractions"][str(fraction)] = {
            "statements_per_label": (statements["next"] + statements["submit"]) / labels,
            "next_statements": statements["next"] / labels,
            "submit_statements": statements["submit"] / labels,
            "app_cpu_ms": cpu * 1000 / labels,
            "db_cpu_ms": pg * 1000 / labels,
            "next_p50_ms": statistics.median(next_ms),
            "next_mean_ms": statistics.fmean(next_ms),
            "next_p99_ms": sorted(next_ms)[int(0.99 * (len(next_ms) - 1))],
            "submit_p50_ms": statistics.median(submit_ms),
            "last_statements": [q["sql"][:300] for q in asked.captured_queries]
            + [q["sql"][:300] for q in submitted.captured_queries],
        }
    return out


# --- closed-loop and paced annotators over HTTP --------------------------------------------

MODES = {
    "separate": {"combined": False, "think": None},
    "combined": {"combined": True, "think": None},
    "paced": {"combined": True, "think": (1.0, 3.0)},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# As curator serves (curator/gunicorn_conf.py, read from this repository: the "before" checkout
# may predate it; gunicorn's own default, 2 s, closes a paced annotator's connection between
# labels).
KEEP_ALIVE = ["--keep-alive", str(served_keepalive())]
WORKERS, THREADS = 2, 16


def _server(code: Path, port: int) -> subprocess.Popen:
    import requests

    env = {**os.environ, "DATABASE_CONN_MAX_AGE": "60", "PYTHONDONTWRITEBYTECODE": "1"}
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "curator.wsgi", "--bind",
         f"127.0.0.1:{port}", "--workers", str(WORKERS), "--threads", str(THREADS), *KEEP_ALIVE],
        cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return process
        except requests.RequestException:  # not listening yet
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def _annotator(base, token, slug, until, out, mode, seed) -> None:
    import requests

    rng = random.Random(seed)
    combined, think = MODES[mode]["combined"], MODES[mode]["think"]
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    assignment = None
    if think:  # paced annotators do not all arrive at once
        time.sleep(rng.uniform(0, think[1]))
    while time.monotonic() < until:
        if think:
            time.sleep(rng.uniform(*think))  # reading and deciding: not server time
        started = time.perf_counter()
        if assignment is None:
            response = session.post(f"{base}/api/projects/{slug}/next/", timeout=60)
            if response.status_code == 204:
                return
            response.raise_for_status()
            assignment = response.json()
        response = session.post(
            f"{base}/api/projects/{slug}/assignments/{assignment['id']}/submit/",
            json={"label": LABELS[len(assignment["record"]["payload"]["text"]) % 2],
                  "next": combined},
            timeout=60,
        )  # fmt: skip
        response.raise_for_status()
        out.append((time.perf_counter() - started) * 1000)
        assignment = response.json().get("next") if combined else None
        if combined and assignment is None:
            return


def _summary(values: list[float]) -> dict:
    ordered = sorted(values) or [float("nan")]

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"n": len(values), "p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99)}


def _backends_cpu() -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving this database (the server's)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        pids = [row[0] for row in cursor.fetchall()]
    out = {}
    for pid in pids:
        try:
            out[pid] = cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):  # it ended meanwhile
            continue
    return out


def http(code: Path, records: int, levels: list[int], modes: list[str], seconds: float) -> dict:
    from django.db.models import Count

    from annotation.models import Annotation

    project, _, tokens, _ = _project(records, max(levels))
    port = _free_port()
    server = _server(code, port)
    base = f"http://127.0.0.1:{port}"
    results: dict = {}
    warmed = 0
    try:
        # Warm both workers up (imports, caches, and a database connection for every thread:
        # a new PostgreSQL backend costs tens of ms of CPU, and 28 of them opening at once had
        # stalled the paced levels' first seconds for 2 s): the first level is not the server
        # starting. Those labels count in the integrity check like the rest.
        warm: list[list[float]] = [[] for _ in range(min(WORKERS * THREADS, len(tokens)))]
        until = time.monotonic() + 3
        threads = [
            threading.Thread(
                target=_annotator,
                args=(base, tokens[i], project.slug, until, warm[i], "combined", i),
            )
            for i in range(len(warm))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        warmed = sum(len(one) for one in warm)
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text()
        pids = [server.pid] + [int(p) for p in children.split()]
        for mode in modes:
            duration = seconds * (3 if MODES[mode]["think"] else 1)
            for count in levels:
                samples: list[list[float]] = [[] for _ in range(count)]
                until = time.monotonic() + duration
                server_cpu = sum(cpu_seconds(p) for p in pids)
                db_cpu = _backends_cpu()
                client_cpu = time.process_time()
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
                flat = [ms for one in samples for ms in one]
                server_cpu = sum(cpu_seconds(p) for p in pids) - server_cpu
                db_cpu = {pid: cpu - db_cpu.get(pid, 0.0) for pid, cpu in _backends_cpu().items()}
                results[f"{mode}/{count}"] = {
                    **_summary(flat),
                    "labels_per_s": len(flat) / duration,
                    "server_cpu_ms_per_label": server_cpu * 1000 / max(1, len(flat)),
                    "db_cpu_ms_per_label": sum(db_cpu.values()) * 1000 / max(1, len(flat)),
                    "client_cpu_ms_per_label": (time.process_time() - client_cpu)
                    * 1000
                    / max(1, len(flat)),
                    "mode": mode,
                    "annotators": count,
                }
    finally:
        server.terminate()
        server.wait(timeout=30)
    human = Annotation.objects.filter(project=project, source="human")
    over = human.values("record").annotate(n=Count("id")).filter(n__gt=1).count()
    stored = human.count()
    done = warmed + sum(r["n"] for r in results.values())
    results["integrity"] = {"over_assigned_records": over, "submitted": done, "stored": stored}
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code", type=Path, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--records", type=int, default=100_000)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("probe")
    one.add_argument("--fractions", default="0.01,0.5,0.9")
    one.add_argument("--labels", type=int, default=200)
    loop = commands.add_parser("http")
    loop.add_argument("--levels", default="1,8,32,64")
    loop.add_argument("--modes", default="combined")
    loop.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    setup_checkout(args.code.resolve(), args.db, args.pg)
    if args.command == "probe":
        result = probe(args.records, [float(f) for f in args.fractions.split(",")], args.labels)
    else:
        result = http(
            args.code.resolve(),
            args.records,
            [int(n) for n in args.levels.split(",")],
            args.modes.split(","),
            args.seconds,
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
