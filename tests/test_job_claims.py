"""Exclusive job claims: leases, heartbeats, stale holders, the sweep (runtime, no worker)."""

import time
from datetime import timedelta

import pytest
from django.db.models.functions import Now
from django.utils import timezone

from curator import job_kinds
from curator.models import Job, JobChunk
from curator.services.jobs import JobCancelled, job_create, jobs_sweep
from workers.runtime import (
    Heartbeat,
    chunk_claim,
    chunk_complete,
    job_claim,
    job_progress,
    job_run,
    job_succeed,
    runner_of,
)


def expire(row) -> None:
    """The holder stopped renewing: its lease ran out a second ago."""
    type(row).objects.filter(pk=row.pk).update(lease_expires_at=Now() - timedelta(seconds=1))


@pytest.mark.django_db
def test_a_second_delivery_of_a_live_job_runs_nothing(project):
    job = job_create(project=project, kind=Job.Kind.TOXICITY)
    first = job_claim(job.pk)
    assert first is not None and first.attempts == 1
    ran = []
    assert job_run(job.pk, lambda job: ran.append(job)) is None
    assert ran == []
    held = Job.objects.get(pk=job.pk)
    assert (held.status, held.claimed_by, held.attempts) == ("running", first.claimed_by, 1)


@pytest.mark.django_db
def test_a_job_whose_lease_ran_out_is_claimed_by_the_next_delivery(project):
    job = job_create(project=project, kind=Job.Kind.TOXICITY)
    first = job_claim(job.pk)
    expire(first)
    second = job_claim(job.pk)
    assert second is not None
    assert second.claimed_by != first.claimed_by and second.attempts == 2
    assert second.lease_expires_at > timezone.now()


@pytest.mark.django_db
def test_a_stale_holder_cannot_report_finish_or_fail_a_job_taken_over(project):
    job = job_create(project=project, kind=Job.Kind.TOXICITY)
    stale = job_claim(job.pk)
    expire(stale)
    fresh = job_claim(job.pk)

    with pytest.raises(JobCancelled):
        job_progress(stale, done=5, total=10)
    assert job_succeed(stale, metrics={"scored": 999}) is False
    job_run(job.pk, lambda job: {"scored": 999})  # a third delivery: held, does nothing
    row = Job.objects.get(pk=job.pk)
    assert (row.status, row.metrics, row.progress_done) == ("running", {}, 0)

    job_progress(fresh, done=10, total=10)
    assert job_succeed(fresh, metrics={"scored": 10}) is True
    row.refresh_from_db()
    assert (row.status, row.metrics, row.claimed_by) == ("succeeded", {"scored": 10},
                                                         fresh.claimed_by)  # fmt: skip


@pytest.mark.django_db
def test_a_stale_chunk_holder_cannot_count_its_chunk_twice(project):
    job = job_create(project=project, kind=Job.Kind.TOXICITY)
    Job.objects.filter(pk=job.pk).update(status="running", chunks_total=2, lease_expires_at=None)
    chunk = JobChunk.objects.create(job=job, index=0, record_ids=[1, 2, 3])
    stale = chunk_claim(chunk.pk)
    assert chunk_claim(chunk.pk) is None  # live lease: a second delivery does nothing
    expire(stale)
    fresh = chunk_claim(chunk.pk)
    assert fresh is not None and fresh.attempts == 2

    assert chunk_complete(stale, 1.0) is False
    assert chunk_complete(fresh, 1.0) is False  # one of two chunks: not the last
    assert chunk_complete(fresh, 1.0) is False  # counted once
    row = Job.objects.get(pk=job.pk)
    assert (row.chunks_done, row.progress_done) == (1, 3)


@pytest.mark.django_db
def test_a_fanned_out_job_is_never_claimed_whole_again(project):
    job = job_create(project=project, kind=Job.Kind.TOXICITY)
    Job.objects.filter(pk=job.pk).update(status="running", lease_expires_at=None, chunks_total=3)
    assert job_claim(job.pk) is None


@pytest.mark.django_db
def test_the_sweep_hands_expired_work_back_and_sends_it_again(
    project, django_capture_on_commit_callbacks
):
    lost = job_create(project=project, kind=Job.Kind.NOISE)
    expire(job_claim(lost.pk))
    alive = job_create(project=project, kind=Job.Kind.FILTER)
    job_claim(alive.pk)
    waiting = job_create(project=project, kind=Job.Kind.IMPORT)  # just queued: left alone
    parent = job_create(project=project, kind=Job.Kind.TOXICITY)
    Job.objects.filter(pk=parent.pk).update(status="running", lease_expires_at=None)
    chunk = JobChunk.objects.create(job=parent, index=0, record_ids=[1])
    expire(chunk_claim(chunk.pk))

    with django_capture_on_commit_callbacks(execute=False) as sends:
        result = jobs_sweep()
    assert (result.jobs_requeued, result.chunks_requeued, result.jobs_resent) == (1, 1, 0)
    assert len(sends) == 2
    lost.refresh_from_db()
    chunk.refresh_from_db()
    assert (lost.status, lost.claimed_by) == ("queued", "")
    assert (chunk.status, chunk.claimed_by) == ("queued", "")
    assert Job.objects.get(pk=alive.pk).status == "running"
    assert Job.objects.get(pk=waiting.pk).status == "queued"
    # Handed back, each is sent once per re-send period, not at every sweep.
    with django_capture_on_commit_callbacks(execute=False) as again:
        jobs_sweep()
    assert again == []
    assert job_claim(lost.pk).attempts == 2


@pytest.mark.django_db
def test_the_sweep_gives_up_a_job_that_keeps_killing_its_workers(project, settings):
    settings.CURATOR_JOB_MAX_ATTEMPTS = 2
    job = job_create(project=project, kind=Job.Kind.NOISE)
    expire(job_claim(job.pk))
    expire(job_claim(job.pk))
    assert jobs_sweep().jobs_failed == 1
    job.refresh_from_db()
    assert job.status == "failed" and "stopped answering on 2 attempts" in job.error


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_renews_the_lease_until_the_body_ends(project, settings):
    settings.CURATOR_JOB_LEASE_SECONDS = 3  # a beat a second
    job = job_claim(job_create(project=project, kind=Job.Kind.NOISE).pk)
    first_lease = job.lease_expires_at
    with Heartbeat(Job, job.pk, job.claimed_by) as heartbeat:
        time.sleep(2.5)
    renewed = Job.objects.get(pk=job.pk).lease_expires_at
    assert renewed > first_lease + timedelta(seconds=1) and not heartbeat.lost
    time.sleep(1.5)
    assert Job.objects.get(pk=job.pk).lease_expires_at == renewed  # stopped with the body

    expire(job)
    job_claim(job.pk)  # another worker took it over
    with Heartbeat(Job, job.pk, job.claimed_by) as stale:
        time.sleep(1.5)
    assert stale.lost


def test_every_kind_is_declared_once_with_a_runner_the_workers_can_import():
    kinds = job_kinds.all_kinds()
    assert sorted(kind.name for kind in kinds) == sorted(Job.Kind)
    assert {kind.queue for kind in kinds} <= {"cpu", "gpu"}
    for kind in kinds:
        assert callable(runner_of(kind.name)), kind.name
    assert set(job_kinds.pipeline_steps()) <= set(job_kinds.startable())
    assert "import" not in job_kinds.startable() and "round" not in job_kinds.pipeline_steps()
