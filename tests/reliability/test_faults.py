"""Faults against the real services: a worker killed mid-job."""

import subprocess
import time

import pytest

from annotation.models import Annotation
from curator.models import Job, JobChunk, RoutingDecision, Split
from tests.conftest import as_jsonl, sst2_rows, wait_for_job
from tests.test_imports import run_import


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_job_finishes_after_restart_without_duplicates(
    celery_worker, client, project, curator_user
):
    run_import(project, as_jsonl(sst2_rows("train", 40)[20:]), split=Split.TRAIN)
    run_import(project, as_jsonl(sst2_rows("dev", 48), drop=("label",)))
    client.force_login(curator_user)
    response = client.post(
        f"/api/projects/{project.slug}/jobs/",
        {"kind": "prelabel", "params": {"limit": 48, "chunk_size": 4}},
        content_type="application/json",
    )
    job_id = response.json()["id"]
    deadline = time.monotonic() + 120
    while Job.objects.get(pk=job_id).chunks_done < 2:
        assert time.monotonic() < deadline, "the job never got going"
        time.sleep(0.05)
    celery_worker.kill()
    killed = Job.objects.get(pk=job_id)
    assert killed.status == Job.Status.RUNNING  # the truth: it is not finished
    assert killed.chunks_done < killed.chunks_total == 12
    celery_worker.start()

    job = wait_for_job(job_id, timeout=240)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.chunks_done == 12
    assert set(JobChunk.objects.filter(job=job).values_list("status", flat=True)) == {"done"}
    # Every record labeled and routed exactly once, whatever ran twice.
    assert Annotation.objects.filter(job=job).count() == 48
    assert Annotation.objects.filter(job=job).values("record").distinct().count() == 48
    assert RoutingDecision.objects.filter(job=job).count() == 48
    assert job.metrics["labeled"] == 48


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Services:
    """A private Redis, a gunicorn web server and a Celery worker, all against the test DB."""

    def __init__(self, media_root) -> None:
        import os

        from tests.conftest import _test_database_url

        self.redis_port, self.web_port = _free_port(), _free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "DATABASE_CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CURATOR_MEDIA_ROOT": str(media_root),
        }
        self.media_root = media_root
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> None:
        import sys
        from pathlib import Path

        from tests.conftest import ROOT

        bin_dir = Path(sys.executable).parent
        commands = {
            "redis": ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                      "--save", "", "--appendonly", "no"],
            "web": [str(bin_dir / "gunicorn"), "curator.wsgi", "--bind",
                    f"127.0.0.1:{self.web_port}", "--threads", "4"],
            "worker": [str(bin_dir / "celery"), "-A", "curator", "worker", "-Q", "cpu,gpu",
                       "--pool", "solo", "--without-gossip", "--without-mingle",
                       "--loglevel", "INFO", "--hostname", f"fault-{self.redis_port}@%h"],
        }  # fmt: skip
        log = (self.media_root / f"fault-{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            commands[name], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while not self.ready(name):
            assert time.monotonic() < deadline, f"{name} did not start"
            time.sleep(0.2)

    def ready(self, name: str) -> bool:
        import requests

        try:
            if name == "redis":
                import redis

                return redis.Redis(port=self.redis_port).ping()
            if name == "web":
                return requests.get(self.url("/healthz"), timeout=1).ok
            return b"ready." in (self.media_root / "fault-worker.log").read_bytes()
        except Exception:
            return False

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=20)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.web_port}{path}"

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_redis_outage_keeps_labeling_alive_and_refuses_jobs_clearly(
    project, curator_user, annotator, media_root
):
    import requests
    from rest_framework.authtoken.models import Token

    run_import(project, as_jsonl(sst2_rows("dev", 30), drop=("label",)))
    curator = {"Authorization": f"Token {Token.objects.create(user=curator_user).key}"}
    labeler = {"Authorization": f"Token {Token.objects.create(user=annotator).key}"}
    services = Services(media_root)
    try:
        for name in ("redis", "web", "worker"):
            services.start(name)
        api = f"/api/projects/{project.slug}"
        services.stop("redis")

        # Pages and the labeling loop do not need the broker.
        assert requests.get(services.url(api + "/"), headers=labeler, timeout=10).ok
        for _ in range(3):
            assignment = requests.post(services.url(api + "/next/"), headers=labeler, timeout=10)
            assert assignment.status_code == 200, assignment.text
            submitted = requests.post(
                services.url(f"{api}/assignments/{assignment.json()['id']}/submit/"),
                json={"label": "positive"}, headers=labeler, timeout=10,
            )  # fmt: skip
            assert submitted.status_code == 201, submitted.text
        # Starting a job fails fast with a clear message, and the job says why it did not run.
        started = time.monotonic()
        refused = requests.post(services.url(api + "/jobs/"), json={"kind": "toxicity"},
                                headers=curator, timeout=60)  # fmt: skip
        assert refused.status_code == 503, refused.text
        assert "broker is unavailable" in refused.json()["detail"]
        assert time.monotonic() - started < 30
        failed = Job.objects.get(project=project, kind=Job.Kind.TOXICITY)
        assert failed.status == Job.Status.FAILED and "broker is unavailable" in failed.error

        # Redis is back: the worker reconnects by itself and new work runs.
        services.start("redis")
        accepted = requests.post(services.url(api + "/jobs/"), json={"kind": "toxicity"},
                                 headers=curator, timeout=30)  # fmt: skip
        assert accepted.status_code == 202, accepted.text
        job = wait_for_job(accepted.json()["id"], timeout=120)
        assert job.status == Job.Status.SUCCEEDED, job.error
        assert job.metrics["scored"] == 30
        assert Annotation.objects.filter(project=project, source="human").count() == 3
    finally:
        services.close()


def _restart_postgresql() -> None:
    import os

    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    for _ in range(60):
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError("PostgreSQL did not come back")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_web_recovers_from_a_postgresql_restart_without_being_restarted(
    project, annotator, media_root
):
    import requests
    from django.db import connection
    from rest_framework.authtoken.models import Token

    run_import(project, as_jsonl(sst2_rows("dev", 10), drop=("label",)))
    labeler = {"Authorization": f"Token {Token.objects.create(user=annotator).key}"}
    services = Services(media_root)
    # Persistent connections: the case where a restart leaves dead ones in the pool.
    services.env["DATABASE_CONN_MAX_AGE"] = "600"
    try:
        services.start("web")
        api = services.url(f"/api/projects/{project.slug}/")
        for _ in range(8):  # touch every thread's connection
            assert requests.get(api, headers=labeler, timeout=10).ok
        connection.close()
        _restart_postgresql()
        statuses = [requests.get(api, headers=labeler, timeout=10).status_code for _ in range(8)]
        assert statuses == [200] * 8
        assert services.processes["web"].poll() is None  # the same process, never restarted
    finally:
        services.close()
