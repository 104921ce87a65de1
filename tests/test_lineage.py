"""Lineage queries return exact sets; round diffs are exact; a snapshot retrain reproduces."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from django.core.management import call_command

from annotation.models import Annotation
from curator import lineage
from curator.models import Job, LineageEdge, Record, Split
from curator.services.rounds import round_start
from tests.conftest import as_jsonl, sst2_rows
from tests.test_imports import run_import
from workers.runtime import job_claim


def child(project, parent, text: str, operation: str) -> Record:
    record = Record.objects.create(
        project=project, payload={"text": text}, content_hash=f"{text:0<64}"[:64]
    )
    LineageEdge.objects.create(parent=parent, child=record, operation=operation)
    return record


@pytest.mark.django_db
def test_ancestors_and_descendants_are_exact(client, project, curator_user):
    run_import(project, as_jsonl(sst2_rows("dev", 3)), split=Split.TRAIN)
    seed, other, _ = Record.objects.filter(project=project).order_by("id")
    generated = child(project, seed, "generated", "instruction")
    edited = child(project, generated, "edited", "edit")
    sibling = child(project, seed, "paraphrase", "rewrite")
    both = child(project, edited, "merged", "rewrite")
    LineageEdge.objects.create(parent=other, child=both, operation="rewrite")
    # A failed generation marks its seed with an edge to itself; it must not loop.
    LineageEdge.objects.create(parent=seed, child=seed, operation="generate-failed")

    up = lineage.ancestors(both.pk)
    assert {(link.record_id, link.depth) for link in up} == {
        (edited.pk, 1), (other.pk, 1), (generated.pk, 2), (seed.pk, 3),
    }  # fmt: skip
    down = lineage.descendants(seed.pk)
    assert {(link.record_id, link.depth) for link in down} == {
        (generated.pk, 1), (sibling.pk, 1), (edited.pk, 2), (both.pk, 3),
    }  # fmt: skip
    assert lineage.ancestors(seed.pk) == [] and lineage.descendants(both.pk) == []

    client.force_login(curator_user)
    data = client.get(f"/api/projects/{project.slug}/records/{edited.pk}/lineage/").json()
    assert [a["record_id"] for a in data["ancestors"]] == [generated.pk, seed.pk]
    assert [d["record_id"] for d in data["descendants"]] == [both.pk]
    page = client.get(f"/p/{project.slug}/records/{edited.pk}/").content.decode()
    assert f"#{seed.pk}" in page and "edit" in page


@pytest.mark.django_db
def test_round_diff_and_which_rounds_used_a_record(client, project, admin_user):
    from workers.jobs.round import round_run

    run_import(project, as_jsonl(sst2_rows("dev", 30)), split=Split.TRAIN)
    first = round_start(project=project, user=admin_user)
    round_run(job_claim(Job.objects.get(round=first).pk))
    records = list(Record.objects.filter(project=project).order_by("id"))
    relabeled, dropped = records[0], records[1]
    old_label = Annotation.objects.get(record=relabeled).value
    new_label = "negative" if old_label == "positive" else "positive"
    Annotation.objects.create(record=relabeled, project=project, value=new_label,
                              source="review", author=admin_user)  # fmt: skip
    Record.objects.filter(pk=dropped.pk).update(held=True)
    added = Record.objects.create(project=project, payload={"text": "new"}, content_hash="n" * 64)
    Annotation.objects.create(record=added, project=project, value="positive", source="human",
                              author=admin_user)  # fmt: skip
    second = round_start(project=project, user=admin_user)
    round_run(job_claim(Job.objects.get(round=second).pk))

    diff = asdict(lineage.round_diff(first, second))  # as the API shows it
    assert diff["added"] == [{"record_id": added.pk, "label": "positive"}]
    assert [r["record_id"] for r in diff["removed"]] == [dropped.pk]
    assert diff["relabeled"] == [
        {"record_id": relabeled.pk, "before": old_label, "after": new_label}
    ]
    assert lineage.rounds_using(relabeled.pk) == [1, 2]
    assert lineage.rounds_using(dropped.pk) == [1]
    assert lineage.rounds_using(added.pk) == [2]
    client.force_login(admin_user)
    assert client.get(f"/api/projects/{project.slug}/rounds/1/diff/2/").json() == diff
    page = client.get(f"/p/{project.slug}/rounds/1/diff/2/").content.decode()
    assert f"{old_label} → {new_label}" in page


@pytest.mark.django_db
def test_retraining_from_a_snapshot_reproduces_its_metrics(project, admin_user, capsys):
    from workers.jobs.round import round_reproduce, round_run

    run_import(project, as_jsonl(sst2_rows("train", 120)), split=Split.TRAIN)
    run_import(project, as_jsonl(sst2_rows("dev", 100)), split=Split.GOLD)
    round_ = round_start(project=project, user=admin_user)
    round_run(job_claim(Job.objects.get(round=round_).pk))
    # More labels after the round: the snapshot, not the project's current labels, is retrained.
    run_import(project, as_jsonl(sst2_rows("train", 200)[120:]), split=Split.TRAIN)
    round_.refresh_from_db()
    result = round_reproduce(round_)
    assert result["identical"] and result["gold_unchanged"], result
    assert result["reproduced"]["accuracy"] == round_.metrics["accuracy"]
    call_command("curator_reproduce", project.slug, "1")
    assert json.loads(capsys.readouterr().out)["identical"] is True


@pytest.mark.django_db
def test_dashboard_plots_rounds_and_warns_on_a_plateau(client, project, admin_user):
    from curator.models import Round, RoundSnapshotItem

    run_import(project, as_jsonl(sst2_rows("dev", 12)), split=Split.TRAIN)
    labels = list(Annotation.objects.filter(project=project).order_by("id"))
    for number, accuracy in ((1, 0.70), (2, 0.80), (3, 0.802), (4, 0.803)):
        round_ = Round.objects.create(
            project=project, number=number, status=Round.Status.SUCCEEDED,
            metrics={"accuracy": accuracy, "macro_f1": accuracy,
                     "train_label_counts": {"<b>pos</b>": number},
                     "timings": {"total_seconds": 1.5 * number}},
        )  # fmt: skip
        RoundSnapshotItem.objects.bulk_create(
            RoundSnapshotItem(round=round_, record_id=a.record_id, annotation=a, label=a.value)
            for a in labels[: 3 * number]
        )
    client.force_login(admin_user)
    page = client.get(f"/p/{project.slug}/").content.decode()
    assert page.count("<svg") == 4
    assert "Plateau" in page
    assert "&lt;b&gt;pos&lt;/b&gt;" in page and "<b>pos</b>" not in page
    assert f"/p/{project.slug}/rounds/3/diff/4/" in page
    # Gold accuracy plotted against the human labels each round trained on (imported: 0).
    from curator.selectors import rounds_dashboard

    rows = rounds_dashboard(project)["rows"]
    assert [r["sources"] for r in rows] == [{"import": 3 * n} for n in (1, 2, 3, 4)]
    Round.objects.filter(project=project, number=4).update(metrics={"accuracy": 0.9})
    assert not rounds_dashboard(project)["plateau"]
