"""The round lifecycle: who may move a round where, what a start does in the request, what the
round job does first, a broker that is down at the start, and round kinds."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection

from curator.models import Job, Round, Score, Split
from curator.services import round_lifecycle
from curator.services.projects import project_create
from curator.services.rounds import RoundNotStartable, round_cancel, round_start
from tests.conftest import ROOT, _test_database_url, as_jsonl, sst2_rows
from tests.test_imports import run_import
from workers.jobs.round import round_run
from workers.runtime import job_run


@pytest.fixture
def labeled(project):
    run_import(project, as_jsonl(sst2_rows("dev", 40)), split=Split.TRAIN)
    return project


def contaminate(project) -> None:
    """Training labels plus a gold record that is a near copy of one of them."""
    rows = sst2_rows("dev", 40)
    run_import(project, as_jsonl(rows[:30]), split=Split.TRAIN)
    leaked = {"text": rows[0]["text"].upper() + " !", "label": rows[0]["label"]}
    run_import(project, as_jsonl([leaked, *rows[30:]]), split=Split.GOLD)


# --- the transitions table ----------------------------------------------------------------------
@pytest.mark.django_db
def test_the_transition_table_refuses_moves_it_does_not_list(project):
    round_ = Round.objects.create(project=project, number=1)
    assert round_.status == Round.Status.QUEUED
    assert round_lifecycle.round_succeed(round_.pk) is False  # queued -> succeeded: not listed
    assert round_lifecycle.round_begin(round_.pk) is True
    assert round_lifecycle.round_begin(round_.pk) is False  # running -> running: no move
    assert round_lifecycle.round_succeed(round_.pk, metrics={"accuracy": 0.9}) is True
    # A finished round never moves again: not back to running, not to failed or cancelled.
    assert round_lifecycle.round_begin(round_.pk) is False
    assert round_lifecycle.round_fail(round_.pk, "late failure") is False
    assert round_lifecycle.round_stop(round_.pk) is False
    with pytest.raises(ValueError, match="no round moves to 'queued'"):
        round_lifecycle.round_move(round_.pk, Round.Status.QUEUED)
    round_.refresh_from_db()
    assert round_.status == Round.Status.SUCCEEDED
    assert round_.metrics == {"accuracy": 0.9}
    assert round_.finished_at is not None


@pytest.mark.django_db
def test_a_cancelled_round_is_not_revived_by_its_job(labeled, admin_user):
    round_ = round_start(project=labeled, user=admin_user)
    job = Job.objects.get(round=round_)
    assert round_cancel(round_=round_, user=admin_user) is True
    assert round_run(job) == {"round_status": "cancelled"}
    round_.refresh_from_db()
    assert round_.status == Round.Status.CANCELLED
    assert round_.model_artifact == "" and round_.metrics == {}
    assert not Score.objects.filter(round=round_).exists()


# --- start in the request, gates in the job -----------------------------------------------------
@pytest.mark.django_db
def test_round_start_freezes_the_snapshot_without_running_the_gates(client, project, admin_user):
    contaminate(project)
    client.force_login(admin_user)
    started = time.monotonic()
    response = client.post(f"/api/projects/{project.slug}/rounds/")
    assert time.monotonic() - started < 5
    assert response.status_code == 202, response.content
    body = response.json()
    # The contamination is not looked at yet: a gate in the request would have blocked it here.
    assert (body["status"], body["kind"], body["metrics"]) == ("queued", "classifier", {})
    assert "gates" not in body["config"]
    round_ = Round.objects.get(pk=body["id"])
    assert round_.snapshot_items.count() == 30 and len(round_.snapshot_sha256) == 64

    job_run(Job.objects.get(round=round_).pk, round_run)
    round_.refresh_from_db()
    assert round_.status == Round.Status.BLOCKED
    assert round_.metrics["blocked_by"] == "contamination"
    assert "1 training record(s) duplicate gold records" in round_.metrics["reason"]
    assert [gate["gate"] for gate in round_.metrics["gates"]] == ["contamination"]
    assert round_.model_artifact == "" and not Score.objects.filter(round=round_).exists()
    page = client.get(f"/p/{project.slug}/rounds/{round_.number}/").content.decode()
    assert "Stopped by the <strong>contamination</strong> gate" in page
    assert "contamination failed" in page
    # A blocked round is finished: the next one may start.
    assert client.post(f"/api/projects/{project.slug}/rounds/").status_code == 202


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_the_gates_and_ends_a_contaminated_round_blocked(
    celery_worker, client, project, admin_user
):
    project.settings = {**project.settings, "score_toxicity_on_import": False}
    project.save()
    contaminate(project)
    client.force_login(admin_user)
    response = client.post(f"/api/projects/{project.slug}/rounds/")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    round_ = Round.objects.get(pk=response.json()["id"])
    deadline = time.monotonic() + 120
    while round_.status in round_lifecycle.UNFINISHED and time.monotonic() < deadline:
        time.sleep(0.3)
        round_.refresh_from_db()
    assert round_.status == Round.Status.BLOCKED, round_.metrics
    assert round_.metrics["blocked_by"] == "contamination"
    job = Job.objects.get(round=round_)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert not Score.objects.filter(round=round_).exists()


# --- the broker down at the start ---------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_round_whose_job_cannot_be_sent_fails_and_does_not_block_the_next(
    client, labeled, admin_user
):
    # `curator_round` in its own process, with the broker on a port where nothing listens.
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "HF_HUB_OFFLINE": "1",
    }
    started = time.monotonic()
    command = subprocess.run(
        [sys.executable, "manage.py", "curator_round", labeled.slug],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert command.returncode != 0
    assert "broker is unavailable" in command.stderr, command.stderr
    assert time.monotonic() - started < 60

    failed = Round.objects.get(project=labeled, number=1)
    assert failed.status == Round.Status.FAILED
    assert "broker is unavailable" in failed.metrics["error"]
    assert failed.finished_at is not None
    job = Job.objects.get(round=failed)
    assert job.status == Job.Status.FAILED and "broker is unavailable" in job.error
    client.force_login(admin_user)
    page = client.get(f"/p/{labeled.slug}/rounds/1/").content.decode()
    assert "Failed: " in page and "broker is unavailable" in page

    # The broker is back: the next round starts at once, no cancel needed.
    response = client.post(f"/api/projects/{labeled.slug}/rounds/")
    assert response.status_code == 202, response.content
    assert (response.json()["number"], response.json()["status"]) == (2, "queued")
    client.post(f"/api/projects/{labeled.slug}/rounds/2/cancel/")  # leaves no job for a worker


# --- one round at a time ------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_queued_round_keeps_the_next_from_starting(labeled, admin_user):
    first = round_start(project=labeled, user=admin_user)
    with pytest.raises(RoundNotStartable, match="already running"):
        round_start(project=labeled, user=admin_user)
    assert list(Round.objects.filter(project=labeled).values_list("pk", flat=True)) == [first.pk]


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_starts_make_one_round(labeled, admin_user):
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def start() -> None:
        try:
            barrier.wait(timeout=10)
            outcomes.append(f"round {round_start(project=labeled, user=admin_user).number}")
        except RoundNotStartable as error:
            outcomes.append(str(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["a round of this project is already running", "round 1"]
    assert Round.objects.filter(project=labeled).count() == 1
    round_cancel(round_=Round.objects.get(project=labeled), user=admin_user)


# --- round kinds --------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_kind_that_does_not_fit_is_refused_and_the_fitting_one_is_offered(
    client, labeled, admin_user
):
    client.force_login(admin_user)
    assert client.get(f"/api/projects/{labeled.slug}/").json()["round_kinds"] == ["classifier"]
    refused = client.post(
        f"/api/projects/{labeled.slug}/rounds/", {"kind": "dpo"}, content_type="application/json"
    )
    assert refused.status_code == 400 and "dpo" in refused.content.decode()
    assert not Round.objects.filter(project=labeled).exists()
    with pytest.raises(
        RoundNotStartable,
        match="a dpo round does not train on classification projects; use: classifier",
    ):
        round_start(project=labeled, user=admin_user, kind="dpo")
    page = client.get(f"/p/{labeled.slug}/").content.decode()
    assert "Start a round" in page and 'name="kind" value="classifier"' in page

    output = io.StringIO()
    call_command("curator_round", labeled.slug, "--kind", "classifier", stdout=output)
    assert '"kind": "classifier"' in output.getvalue()
    round_ = Round.objects.get(project=labeled)
    assert (round_.kind, round_.status) == ("classifier", Round.Status.QUEUED)


@pytest.mark.django_db
def test_a_project_no_kind_fits_is_not_offered_a_round(client, admin_user):
    project = project_create(
        name="topics", task_type="multilabel", labels=["a", "b"], created_by=admin_user,
        settings={"gold_rate": 0},
    )  # fmt: skip
    client.force_login(admin_user)
    page = client.get(f"/p/{project.slug}/").content.decode()
    assert "Start a round" not in page
    assert "Rounds do not train on multi-label classification projects yet" in page
    assert client.get(f"/api/projects/{project.slug}/").json()["round_kinds"] == []
    refused = client.post(f"/api/projects/{project.slug}/rounds/")
    assert refused.status_code == 409
    assert "no round kind trains on multilabel projects" in refused.json()["detail"]
    with pytest.raises(RoundNotStartable, match="a classifier round does not train on multilabel"):
        round_start(project=project, user=admin_user, kind="classifier")
    assert not Round.objects.filter(project=project).exists()
