"""Shared set-up for benchmarks: a scratch PostgreSQL database and the real data sets."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from curator import public_data

ROOT = Path(__file__).resolve().parent.parent
DATA = public_data.DATA
OUT = ROOT / "bench" / "out"
BENCH_DB = os.environ.get("BENCH_DATABASE_NAME", "curator_bench")
PG = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")


def setup_django() -> None:
    """Point Django at a fresh scratch database, migrate it and start Django."""
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    os.environ["DATABASE_URL"] = f"{PG}/{BENCH_DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "curator.settings")
    os.environ.setdefault("CURATOR_MEDIA_ROOT", str(OUT / "media"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def sst2_sentences(split: str = "train") -> list[tuple[str, str]]:
    return public_data.sst2(split)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "mean": statistics.fmean(values) if values else float("nan"),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
    }


def table(title: str, headers: list[str], rows: list[list[object]]) -> str:
    cells = [headers] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells[1:]]
    return "\n".join(lines)


# The code measured as "before" in side-by-side sections: the last main commit before the
# labeling-capacity and import/export work (issue 16), unpacked from git under bench/out.
BEFORE_REF = os.environ.get("BENCH_BEFORE_REF", "c740503")


def before_checkout(path_or_ref: str = "") -> Path:
    """A checkout of the "before" code: a folder given as is, else a git ref of this repository
    unpacked (read only, no worktree bookkeeping) into bench/out/before-<ref>."""
    import subprocess

    given = Path(path_or_ref) if path_or_ref else None
    if given is not None and given.is_dir():
        return given.resolve()
    ref = path_or_ref or BEFORE_REF
    target = OUT / f"before-{ref}"
    if not (target / "manage.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", ref], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def checkout_probe(script: str, code: Path, db: str, args: list[str]) -> dict:
    """Run bench/<script> against the checkout `code` in a fresh database `db`; its JSON."""
    import json
    import subprocess
    import sys

    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",  # the before checkout stays as unpacked
        "CURATOR_PUBLIC_DATA": str(DATA),
        "CURATOR_MEDIA_ROOT": str(OUT / "media"),
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--code", str(code), "--db", db, *args],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} on {code} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
