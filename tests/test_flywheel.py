"""A whole flywheel on SST-2: a simulated annotator answers from the true labels through the
real API while rounds run on the real worker; quality rises, lineage and exports hold."""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict

import pytest
from django.test import Client

from curator import lineage
from curator.models import Job, Role, Round, Split
from curator.services.exports import export_write
from tests.conftest import as_jsonl, sst2_rows, wait_for_job
from tests.test_imports import run_import


def run_round(client: Client, project) -> Round:
    response = client.post(f"/api/projects/{project.slug}/rounds/")
    assert response.status_code == 202, response.content
    round_ = Round.objects.get(pk=response.json()["id"])
    job = wait_for_job(Job.objects.get(round=round_).pk, timeout=300)
    assert job.status == Job.Status.SUCCEEDED, job.error
    round_.refresh_from_db()
    return round_


def annotate(client: Client, project, truth: dict[str, str], count: int) -> set[int]:
    labeled = set()
    assignment = client.post(f"/api/projects/{project.slug}/next/").json()
    for _ in range(count):
        response = client.post(
            f"/api/projects/{project.slug}/assignments/{assignment['id']}/submit/",
            {"value": truth[assignment["record"]["payload"]["text"]], "next": True},
            content_type="application/json",
        )
        assert response.status_code == 201
        labeled.add(assignment["record"]["id"])
        assignment = response.json()["next"]
    return labeled


@pytest.mark.django_db(transaction=True)
def test_three_rounds_raise_quality_and_stay_explainable(
    celery_worker, project, admin_user, member, tmp_path
):
    from workers.jobs.round import round_reproduce

    project.settings = {**project.settings, "sampling": "hybrid", "batch_size": 40,
                        "score_toxicity_on_import": False}  # fmt: skip
    project.save()
    pool = sst2_rows("train", 2000)
    truth = {row["text"]: row["label"] for row in pool}
    run_import(project, as_jsonl(sst2_rows("dev")), split=Split.GOLD)
    run_import(project, as_jsonl(pool[:16]), split=Split.TRAIN)
    run_import(project, as_jsonl(pool[16:], drop=("label",)), split=Split.POOL)
    admin, annotator = Client(), Client()
    admin.force_login(admin_user)
    annotator.force_login(member(Role.ANNOTATOR, "sim"))

    rounds = [run_round(admin, project)]
    batches = []
    for _ in range(2):
        batches.append(annotate(annotator, project, truth, 80))
        rounds.append(run_round(admin, project))
    accuracy = [r.metrics["accuracy"] for r in rounds]
    assert rounds[-1].metrics["labels_by_source"] == {"import": 16, "human": 160}
    assert rounds[-1].metrics["human_labels"] == 160
    assert accuracy[-1] > accuracy[0] + 0.03, accuracy

    # Lineage: each round added exactly what the annotator labeled in between.
    for (before, after), labeled in zip(itertools.pairwise(rounds), batches, strict=True):
        diff = asdict(lineage.round_diff(before, after))
        assert {r["record_id"] for r in diff["added"]} == labeled
        assert diff["removed"] == [] and diff["relabeled"] == []
    # The last round retrains to the same metrics, and exports exactly its training set.
    assert round_reproduce(rounds[-1])["identical"]
    manifest = export_write(project, tmp_path, "jsonl", round_=rounds[-1])
    assert manifest["rows"] == rounds[-1].metrics["train_size"] == 16 + 160
    exported = [json.loads(x) for x in (tmp_path / "data.jsonl").read_text().splitlines()]
    assert all(row["label"] == truth[row["text"]] for row in exported)
