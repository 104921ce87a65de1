"""Set-up shared by the probes that measure one checkout of curator in its own process
(`labeling_probe.py`, `io_probe.py`): they import only that checkout, the standard library and
psycopg, so they can measure code that predates them."""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time
from pathlib import Path


def setup_checkout(code: Path, db: str, pg: str, fresh: bool = True) -> None:
    """Import the checkout at `code`, give it a fresh database `db` and migrate it there
    (`fresh` False: use `db` as it is, e.g. in a child process of a probe that made it)."""
    import psycopg

    # Python put this script's folder first on the path: bench/datasets.py would hide the
    # `datasets` library (the Hugging Face export) from the checkout. The probe needs only
    # this module from that folder, already imported.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(code))
    if fresh:
        with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db}"')
    os.environ["DATABASE_URL"] = f"{pg}/{db}"
    os.environ["DATABASE_CONN_MAX_AGE"] = "60"  # as gunicorn runs it: one connection, reused
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "curator.settings")
    import django

    django.setup()
    if fresh:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PeakRss:
    """Samples this process's resident memory while the block runs."""

    def __enter__(self) -> PeakRss:
        import psutil

        self.process = psutil.Process()
        self.baseline = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 2**20


def served_keepalive() -> int:
    """The keep-alive seconds curator is served with (curator/gunicorn_conf.py of this
    repository, since a "before" checkout may predate that file)."""
    conf = Path(__file__).resolve().parents[1] / "curator" / "gunicorn_conf.py"
    return int(runpy.run_path(str(conf))["keepalive"])
