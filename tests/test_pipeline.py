"""Round gates and the round pipeline: what stops a round, and the steps that follow training."""

from __future__ import annotations

import time

import pytest

from annotation.models import Annotation
from curator.models import Job, Record, Role, Round, RoutingDecision, Score, Split
from curator.services.rounds import round_start
from tests.conftest import as_jsonl, sst2_rows, wait_for_job
from tests.test_imports import run_import
from workers.jobs.round import round_run
from workers.runtime import job_run


def run_round_job(round_: Round) -> Round:
    """The round's job body, run here as the worker runs it (the gates are its first stage)."""
    job_run(Job.objects.get(round=round_).pk, round_run)
    round_.refresh_from_db()
    return round_


@pytest.mark.django_db
def test_contamination_gate_stops_a_round_that_would_train_on_gold(client, project, admin_user):
    rows = sst2_rows("dev", 40)
    run_import(project, as_jsonl(rows[:30]), split=Split.TRAIN)
    leaked = {"text": rows[0]["text"].upper() + " !", "label": rows[0]["label"]}
    run_import(project, as_jsonl([leaked, *rows[30:]]), split=Split.GOLD)
    round_ = run_round_job(round_start(project=project, user=admin_user))
    assert round_.status == Round.Status.BLOCKED
    assert round_.metrics["blocked_by"] == "contamination"
    assert "1 training record(s) duplicate gold records" in round_.metrics["reason"]
    # Stopped before training: no model, no scores.
    assert round_.model_artifact == "" and "accuracy" not in round_.metrics
    assert not Score.objects.filter(round=round_).exists()
    client.force_login(admin_user)
    page = client.get(f"/p/{project.slug}/rounds/{round_.number}/").content.decode()
    assert "Stopped by the <strong>contamination</strong> gate" in page
    # Switched off, the same data trains.
    project.settings = {**project.settings, "gate_contamination": False}
    project.save()
    assert round_start(project=project, user=admin_user).status == Round.Status.QUEUED


@pytest.mark.django_db
def test_agreement_and_spot_check_gates(project, admin_user, member):
    run_import(project, as_jsonl(sst2_rows("dev", 20)), split=Split.TRAIN)
    records = list(Record.objects.filter(project=project))
    alice, bob = member(Role.ANNOTATOR, "alice"), member(Role.ANNOTATOR, "bob")
    for i, record in enumerate(records):
        Annotation.objects.create(record=record, project=project, source="human", author=alice,
                                  value="positive" if i % 2 else "negative")  # fmt: skip
        Annotation.objects.create(record=record, project=project, source="human", author=bob,
                                  value="negative" if i % 3 else "positive")  # fmt: skip
    project.settings = {**project.settings, "gate_min_agreement": 0.6}
    project.save()
    blocked = run_round_job(round_start(project=project, user=admin_user))
    assert blocked.metrics["blocked_by"] == "agreement"
    assert "below 0.6" in blocked.metrics["reason"]

    project.settings = {**project.settings, "gate_min_agreement": None,
                        "gate_min_spot_check_accuracy": 0.9}  # fmt: skip
    project.save()
    job = Job.objects.create(project=project, kind=Job.Kind.PRELABEL)
    for record in records[:4]:
        llm = Annotation.objects.create(record=record, project=project, source="llm", job=job,
                                        value="positive", confidence=0.95)  # fmt: skip
        RoutingDecision.objects.create(
            record=record, job=job, annotation=llm, label="positive", decision="spot_check",
            confidence=0.95, threshold=0.9,
        )  # fmt: skip
    spot = run_round_job(round_start(project=project, user=admin_user))
    assert spot.metrics["blocked_by"] == "spot_checks", spot.metrics


@pytest.mark.django_db(transaction=True)
def test_round_pipeline_runs_its_steps_in_order_on_the_worker(
    celery_worker, client, project, admin_user
):
    project.settings = {
        **project.settings,
        "score_toxicity_on_import": False,
        "round_pipeline": ["filter", "noise"],
        "round_step_params": {"filter": {"filters": {"exact": {}}}, "noise": {"relabel": False}},
    }
    project.save()
    run_import(project, as_jsonl(sst2_rows("dev", 60)), split=Split.TRAIN)
    run_import(project, as_jsonl(sst2_rows("dev", 120)[60:]), split=Split.GOLD)
    client.force_login(admin_user)
    response = client.post(f"/api/projects/{project.slug}/rounds/")
    assert response.status_code == 202
    round_ = Round.objects.get(pk=response.json()["id"])
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        round_.refresh_from_db()
        if round_.status not in (Round.Status.QUEUED, Round.Status.RUNNING):
            break
        time.sleep(0.5)
    assert round_.status == Round.Status.SUCCEEDED, round_.status
    jobs = list(Job.objects.filter(round=round_).order_by("id"))
    assert [j.kind for j in jobs] == ["round", "filter", "noise"]
    assert all(j.status == Job.Status.SUCCEEDED for j in jobs), [j.error for j in jobs]
    assert jobs[1].created_at >= jobs[0].finished_at  # each step after the one before
    # Per-class metrics and the confusion matrix come with every round.
    confusion = round_.metrics["confusion"]
    assert sum(map(sum, confusion["matrix"])) == round_.metrics["gold_size"] == 60
    assert set(round_.metrics["per_class"]) == {"negative", "positive"}


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_round_stops_its_pipeline(celery_worker, client, project, admin_user):
    project.settings = {**project.settings, "score_toxicity_on_import": False,
                        "round_pipeline": ["noise"]}  # fmt: skip
    project.save()
    run_import(project, as_jsonl(sst2_rows("dev", 40)), split=Split.TRAIN)
    client.force_login(admin_user)
    number = client.post(f"/api/projects/{project.slug}/rounds/").json()["number"]
    cancelled = client.post(f"/api/projects/{project.slug}/rounds/{number}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    round_ = Round.objects.get(project=project, number=number)
    wait_for_job(Job.objects.filter(round=round_).first().pk)
    time.sleep(1)
    assert not Job.objects.filter(round=round_, kind=Job.Kind.NOISE).exists()
    assert client.post(f"/api/projects/{project.slug}/rounds/{number}/cancel/").status_code == 409
    # The project can start its next round.
    assert client.post(f"/api/projects/{project.slug}/rounds/").status_code == 202


@pytest.mark.django_db
def test_unknown_pipeline_steps_are_refused_at_start(client, project, admin_user):
    project.settings = {**project.settings, "round_pipeline": ["dance"]}
    project.save()
    run_import(project, as_jsonl(sst2_rows("dev", 20)), split=Split.TRAIN)
    client.force_login(admin_user)
    response = client.post(f"/api/projects/{project.slug}/rounds/")
    assert response.status_code == 409 and "unknown pipeline step" in response.content.decode()
    assert not Round.objects.filter(project=project).exists()
