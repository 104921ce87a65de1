"""Fixtures shared by the suite.

The tests run against the real PostgreSQL and Redis of the machine (DATABASE_URL and
CELERY_BROKER_URL, set by `make test`). End-to-end tests go through a real Celery worker process
started here against the test database; nothing runs in eager mode.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from curator import public_data
from curator.models import Job, Membership, Project, Role, User
from curator.services.projects import project_create

ROOT = Path(__file__).resolve().parent.parent
DATA = public_data.DATA
PASSWORD = "correct-horse-battery"


def pytest_configure(config: pytest.Config) -> None:
    if not DATA.is_dir():
        raise pytest.UsageError(f"the real data sets are missing: {DATA} (CI always has them)")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """The test process waits 10 s before checking for a deadlock (the worker keeps 1 s). The
    flush after a transactional test (one TRUNCATE of every table) can meet the session
    worker's job sweep, which locks jobs and then chunks: a lock cycle. With the longer wait
    here the sweep's own check finds the cycle first and PostgreSQL aborts the sweep (the next
    one runs 2 s later) instead of the flush, whose failure would fail the next test."""
    options = settings.DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = "-c deadlock_timeout=10s"


@pytest.fixture(scope="session", autouse=True)
def _postgresql_only(django_db_setup, django_db_blocker) -> Iterator[None]:
    with django_db_blocker.unblock():
        assert connection.vendor == "postgresql", (
            "the tests run against PostgreSQL: set DATABASE_URL (make test does)"
        )
    yield
    if not connection.settings_dict["NAME"].startswith("test_"):
        return  # no test used the database (pytest-django created none)
    # Request threads of live_server keep sessions open; end them so the test database can be
    # dropped. Termination is asynchronous, so wait until they are really gone.
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        others = "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        cursor.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity {others}")  # noqa: S608
        for _ in range(50):
            cursor.execute(f"SELECT count(*) FROM pg_stat_activity {others}")  # noqa: S608
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.1)


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media")
    settings.MEDIA_ROOT = path
    return path


@pytest.fixture(autouse=True)
def _media(media_root: Path, settings) -> None:
    settings.MEDIA_ROOT = media_root


# --- data ---------------------------------------------------------------------------------------
def sst2_rows(split: str = "dev", limit: int | None = None) -> list[dict[str, str]]:
    """SST-2 rows as {"text", "label"} with labels "negative"/"positive"."""
    return [{"text": text, "label": label} for text, label in public_data.sst2(split, limit)]


def as_jsonl(rows: list[dict], drop: tuple[str, ...] = ()) -> bytes:
    return "".join(
        json.dumps({k: v for k, v in row.items() if k not in drop}) + "\n" for row in rows
    ).encode()


def as_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


# --- people and projects ------------------------------------------------------------------------
@pytest.fixture
def make_user(db) -> Callable[..., User]:
    counter = {"n": 0}

    def make(username: str | None = None, **extra) -> User:
        counter["n"] += 1
        return User.objects.create_user(
            username=username or f"user{counter['n']}", password=PASSWORD, **extra
        )

    return make


@pytest.fixture
def admin_user(make_user) -> User:
    return make_user("ada")


@pytest.fixture
def project(admin_user: User) -> Project:
    return project_create(
        name="SST-2 sentiment",
        labels=[
            {"value": "negative", "name": "Negative"},
            {"value": "positive", "name": "Positive"},
        ],
        guidelines="Is the sentence positive or negative about the film?",
        created_by=admin_user,
        # Gold checks are random; the tests about them turn them on.
        settings={"gold_rate": 0},
    )


@pytest.fixture
def member(make_user, project: Project) -> Callable[[str], User]:
    def add(role: str, username: str | None = None) -> User:
        user = make_user(username)
        Membership.objects.create(user=user, project=project, role=role)
        return user

    return add


@pytest.fixture
def annotator(member) -> User:
    return member(Role.ANNOTATOR, "annie")


@pytest.fixture
def curator_user(member) -> User:
    return member(Role.CURATOR, "cora")


# --- the real worker ----------------------------------------------------------------------------
def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


class WorkerProcess:
    """A real `celery worker` process on both queues, against the test database."""

    def __init__(
        self, env: dict[str, str], log: Path, name: str = "test", beat: bool = False
    ) -> None:
        self.env = env
        self.log = log
        self.name = name
        # With beat the worker also runs the periodic job sweep (as `run_demo` does).
        self.beat = beat
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("celery")), "-A", "curator", "worker",
                    "-Q", "cpu,gpu", "--pool", "solo", "--loglevel", "INFO",
                    "--hostname", f"{self.name}-{os.getpid()}@%h", "--without-gossip",
                    "--without-mingle",
                    *(["-B", "-s", str(self.log.with_suffix(".beat"))] if self.beat else []),
                ],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                # Its own process group, so a kill takes the embedded beat process with it.
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while b"ready." not in self.log.read_bytes()[offset:]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no acknowledgement of the message in hand."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> None:
        """A warm shutdown, then whatever is left of the group (the embedded beat process
        outlives its worker otherwise) is killed."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=20)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, media_root: Path) -> Iterator[WorkerProcess]:
    from curator.celery import app

    with django_db_blocker.unblock():
        app.control.purge()
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CURATOR_MEDIA_ROOT": str(media_root),
        "DATABASE_CONN_MAX_AGE": "0",
        # As in production the broker never hands a task out again while it may be alive; a
        # killed worker's job comes back through the sweep once its lease has passed, and both
        # are short here so the tests see that happen in seconds.
        "CELERY_VISIBILITY_TIMEOUT": "3600",
        "CURATOR_JOB_LEASE_SECONDS": "6",
        "CURATOR_SWEEP_SECONDS": "2",
        # A message a killed worker had prefetched but not started is sent again this soon.
        "CURATOR_SWEEP_QUEUED_SECONDS": "20",
    }
    worker = WorkerProcess(env, media_root / "worker.log", beat=True)
    worker.start()
    yield worker
    worker.stop()


def wait_for_job(job_id: int, timeout: float = 180) -> Job:
    """Poll the job row until a worker finished it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.is_finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s: {job.status} {job.stage}")
