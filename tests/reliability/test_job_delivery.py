"""Jobs delivered twice and workers killed mid-job, against real worker processes and Redis."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Annotation
from curator.celery import app
from curator.models import Job, JobChunk, Record, RoutingDecision, Split
from curator.services.imports import import_start
from tests.conftest import WorkerProcess, as_jsonl, sst2_rows, wait_for_job
from tests.test_imports import run_import


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_deliveries_of_a_long_job_run_its_body_once(celery_worker, project, media_root):
    second = WorkerProcess(celery_worker.env, media_root / "second-worker.log", name="second")
    second.start()
    rows = sst2_rows("train", 6000)
    try:
        job = import_start(project=project, upload=SimpleUploadedFile("big.jsonl", as_jsonl(rows)))
        # A second delivery while the first runs, under the task name of earlier releases: two
        # idle workers take one message each and race for the claim.
        app.send_task("workers.tasks.import_records", args=[job.pk], queue="cpu")
        job = wait_for_job(job.pk, timeout=300)
    finally:
        second.stop()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 1  # one claim, so the body ran once
    distinct = len({row["text"] for row in rows})
    assert job.metrics["rows"] == 6000 and job.metrics["created"] == distinct
    assert Record.objects.filter(project=project).count() == distinct
    assert Annotation.objects.filter(record__project=project).count() == distinct
    logs = celery_worker.log.read_text() + second.log.read_text()
    assert f"job {job.pk}: this delivery does nothing, it is held by" in logs


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_chunk_is_finished_by_another_worker_after_its_lease(
    celery_worker, client, project, curator_user, media_root
):
    run_import(project, as_jsonl(sst2_rows("train", 40)[20:]), split=Split.TRAIN)
    run_import(project, as_jsonl(sst2_rows("dev", 24), drop=("label",)))
    client.force_login(curator_user)
    response = client.post(
        f"/api/projects/{project.slug}/jobs/",
        {"kind": "prelabel", "params": {"limit": 24, "chunk_size": 4}},
        content_type="application/json",
    )
    job_id = response.json()["id"]
    deadline = time.monotonic() + 180
    while not (
        Job.objects.get(pk=job_id).chunks_done >= 1
        and JobChunk.objects.filter(job_id=job_id, status="running").exists()
    ):
        assert time.monotonic() < deadline, "the job never got going"
        time.sleep(0.05)
    celery_worker.kill()
    killed_at = time.monotonic()
    orphan = JobChunk.objects.get(job_id=job_id, status="running")
    survivor = WorkerProcess(
        celery_worker.env, media_root / "survivor.log", name="survivor", beat=True
    )
    survivor.start()
    try:
        job = wait_for_job(job_id, timeout=240)
        recovered_in = time.monotonic() - killed_at
    finally:
        survivor.stop()
        celery_worker.start()  # for the tests after this one

    assert job.status == Job.Status.SUCCEEDED, job.error
    # The broker would hand the orphan out again only after its visibility timeout (an hour);
    # the sweep did after the 6 s lease.
    assert recovered_in < 200
    orphan.refresh_from_db()
    assert (orphan.status, orphan.attempts) == ("done", 2)
    assert "job sweep" in survivor.log.read_text()
    assert job.chunks_done == job.chunks_total == 6
    # Every record labeled and routed exactly once, whatever ran twice.
    assert Annotation.objects.filter(job=job).count() == 24
    assert Annotation.objects.filter(job=job).values("record").distinct().count() == 24
    assert RoutingDecision.objects.filter(job=job).count() == 24
