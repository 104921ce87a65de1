"""Faults against the real services: a worker killed mid-job."""

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
