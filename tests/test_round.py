import hashlib
from pathlib import Path

import joblib
import numpy as np
import pytest
from django.conf import settings
from django.db.models import F

from annotation.models import Annotation, Source
from annotation.services.annotations import annotation_submit
from annotation.services.assignment import next_assignment
from curator.algorithms import strategy_choice
from curator.hashing import snapshot_digest
from curator.models import Job, Record, Role, Round, RoundSnapshotItem, Score, Split
from tests.conftest import as_jsonl, sst2_rows, wait_for_job
from tests.test_imports import run_import
from workers.inference.encoder import get_encoder
from workers.jobs.classifier_round import classifier_round_run, stage_embed
from workers.jobs.embeddings import embeddings_matrix


def label_next(project, user, truth: dict[str, str], count: int) -> list[Annotation]:
    labels = []
    for _ in range(count):
        assignment = next_assignment(project, user)
        text = assignment.record.payload["text"]
        labels.append(annotation_submit(assignment=assignment, user=user, value=truth[text]))
    return labels


@pytest.mark.django_db(transaction=True)
def test_full_round_trains_on_its_snapshot_and_ranks_the_pool_by_uncertainty(
    celery_worker, client, project, admin_user, member
):
    project.settings = {**project.settings, "sampling": "entropy", "cold_start_labels": 0}
    project.save()
    gold = sst2_rows("dev", limit=200)
    pool = sst2_rows("train", limit=400)
    truth = {row["text"]: row["label"] for row in pool}
    run_import(project, as_jsonl(gold), split=Split.GOLD)
    run_import(project, as_jsonl(pool, drop=("label",)), split=Split.POOL)
    alice = member(Role.ANNOTATOR, "alice")
    human = label_next(project, alice, truth, 40)
    assert len({a.value for a in human}) == 2

    client.force_login(admin_user)
    response = client.post(f"/api/projects/{project.slug}/rounds/")
    assert response.status_code == 202, response.content
    round_ = Round.objects.get(pk=response.json()["id"])
    late = label_next(project, alice, truth, 1)[0]  # after the snapshot froze: not trained on
    job = wait_for_job(Job.objects.get(round=round_).pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    round_.refresh_from_db()

    # The snapshot is exactly the human labels that existed when the round started.
    snapshot = set(
        RoundSnapshotItem.objects.filter(round=round_).values_list("record", "annotation", "label")
    )
    assert snapshot == {(a.record_id, a.pk, a.value) for a in human}
    assert late.record_id not in {record for record, _, _ in snapshot}
    hashes = dict(Record.objects.values_list("id", "content_hash"))
    assert round_.snapshot_sha256 == snapshot_digest(
        [(hashes[r], label) for r, _, label in snapshot]
    )

    # Evaluated on gold with the real encoder: clearly better than chance on SST-2.
    metrics = round_.metrics
    assert metrics["train_size"] == 40 and metrics["gold_size"] == 200
    assert metrics["accuracy"] > 0.6, metrics
    assert 0 < metrics["macro_f1"] <= 1
    assert job.model_identity["encoder"].startswith("sentence-transformers/all-MiniLM-L6-v2")

    # The artifact is on disk, matches its hash, and reproduces the gold accuracy.
    artifact = Path(settings.MEDIA_ROOT) / round_.model_artifact
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == round_.model_sha256
    model = joblib.load(artifact)["classifier"]
    gold_records = list(Record.objects.filter(project=project, split=Split.GOLD).order_by("id"))
    features = embeddings_matrix([r.content_hash for r in gold_records], get_encoder().identity)
    expected = {r.record_id: r.value for r in Annotation.objects.filter(source=Source.IMPORT)}
    predicted = model.predict(features)
    accuracy = np.mean([p == expected[r.pk] for p, r in zip(predicted, gold_records, strict=True)])
    assert accuracy == pytest.approx(metrics["accuracy"])

    # Every unlabeled pool record got an entropy score, copied to its queue priority...
    scores = dict(Score.objects.filter(round=round_, kind="entropy").values_list("record", "value"))
    unlabeled = set(
        Record.objects.filter(project=project, split=Split.POOL)
        .exclude(pk__in=[a.record_id for a in human]).values_list("id", flat=True)
    )  # fmt: skip
    assert set(scores) == unlabeled
    priorities = dict(Record.objects.filter(pk__in=list(scores)).values_list("id", "priority"))
    assert priorities == pytest.approx(scores)
    # ...so the next annotator gets the most uncertain record first.
    bob = member(Role.ANNOTATOR, "bob")
    waiting = {r: v for r, v in scores.items() if r != late.record_id}
    served = [next_assignment(project, bob)]
    assert scores[served[0].record_id] == pytest.approx(max(waiting.values()))

    page = client.get(f"/p/{project.slug}/rounds/{round_.number}/")
    assert page.status_code == 200
    assert f"{metrics['accuracy']:.3f}".encode() in page.content


@pytest.mark.django_db
def test_round_needs_labels_of_two_classes(client, project, admin_user):
    run_import(project, as_jsonl([r for r in sst2_rows("dev", 30) if r["label"] == "positive"]),
               split=Split.TRAIN)  # fmt: skip
    client.force_login(admin_user)
    response = client.post(f"/api/projects/{project.slug}/rounds/")
    assert response.status_code == 409
    assert "at least two different labels" in response.json()["detail"]
    assert not Round.objects.filter(project=project).exists()
    assert not Job.objects.filter(project=project, kind=Job.Kind.ROUND).exists()


@pytest.mark.django_db
def test_only_one_round_at_a_time(client, project, admin_user):
    run_import(project, as_jsonl(sst2_rows("dev", 40)), split=Split.TRAIN)
    client.force_login(admin_user)
    Round.objects.create(project=project, number=1, status=Round.Status.RUNNING)
    response = client.post(f"/api/projects/{project.slug}/rounds/")
    assert response.status_code == 409
    assert Round.objects.filter(project=project).count() == 1


@pytest.mark.django_db
def test_hybrid_round_puts_a_diverse_batch_of_uncertain_records_first(project, admin_user, member):
    from curator.services.rounds import round_start
    from workers.jobs.round import round_run
    from workers.runtime import job_claim

    project.settings = {
        **project.settings,
        "sampling": "hybrid",
        "batch_size": 10,
        "committee_size": 3,
        "cold_start_labels": 0,
    }
    project.save()
    pool = sst2_rows("train", limit=300)
    run_import(project, as_jsonl(pool[:40]), split=Split.TRAIN)
    run_import(project, as_jsonl(pool[40:], drop=("label",)), split=Split.POOL)
    round_ = round_start(project=project, user=admin_user)
    metrics = round_run(job_claim(Job.objects.get(round=round_).pk))
    selected = metrics["selected_batch"]
    assert len(selected) == len(set(selected)) == 10
    entropy = dict(
        Score.objects.filter(round=round_, kind="entropy").values_list("record", "value")
    )
    shortlist = sorted(entropy, key=lambda r: -entropy[r])[:50]
    assert set(selected) <= set(shortlist)
    priorities = dict(Record.objects.filter(pk__in=list(entropy)).values_list("id", "priority"))
    assert [priorities[r] for r in selected] == [1000.0 - rank for rank in range(10)]
    rest = set(entropy) - set(selected)
    assert {r: priorities[r] for r in rest} == pytest.approx({r: entropy[r] for r in rest})
    assert next_assignment(project, member(Role.ANNOTATOR, "zoe")).record_id == selected[0]
    # margin and least-confidence are kept beside entropy for every pool record
    for kind in ("margin", "least_confidence", "vote_entropy"):
        assert Score.objects.filter(round=round_, kind=kind).count() == len(entropy)


@pytest.mark.django_db
def test_round_on_a_coreset_reports_it_beside_the_full_set(client, project, admin_user):
    from curator.services.rounds import round_start
    from workers.jobs.round import round_run
    from workers.runtime import job_claim

    project.settings = {**project.settings, "coreset_size": 60}
    project.save()
    run_import(project, as_jsonl(sst2_rows("train", limit=300)), split=Split.TRAIN)
    run_import(project, as_jsonl(sst2_rows("dev", limit=200)), split=Split.GOLD)
    round_ = round_start(project=project, user=admin_user)
    metrics = round_run(job_claim(Job.objects.get(round=round_).pk))
    coreset = metrics["coreset"]
    assert coreset["size"] == len(set(coreset["record_ids"])) == 60
    assert set(coreset["record_ids"]) <= set(
        RoundSnapshotItem.objects.filter(round=round_).values_list("record_id", flat=True)
    )
    assert coreset["full_set"]["size"] == 300
    assert metrics["accuracy"] > 0.5 and coreset["full_set"]["accuracy"] > 0.5
    client.force_login(admin_user)
    page = client.get(f"/p/{project.slug}/rounds/{round_.number}/").content.decode()
    assert "k-center coreset" in page and "full snapshot" in page


@pytest.mark.django_db
def test_finetune_trainer_updates_the_encoder_and_the_next_round_starts_from_it(
    project, admin_user
):
    from pathlib import Path

    from django.conf import settings

    from curator.services.rounds import round_start
    from workers.jobs.round import round_run
    from workers.runtime import job_claim

    project.settings = {**project.settings, "trainer": "finetune", "finetune_epochs": 1}
    project.save()
    run_import(project, as_jsonl(sst2_rows("train", limit=96)), split=Split.TRAIN)
    run_import(project, as_jsonl(sst2_rows("dev", limit=64)), split=Split.GOLD)
    run_import(project, as_jsonl(sst2_rows("dev", limit=96)[64:], drop=("label",)))
    first = round_start(project=project, user=admin_user)
    metrics = round_run(job_claim(Job.objects.get(round=first).pk))
    assert metrics["trainer"] == "finetune"
    assert (Path(settings.MEDIA_ROOT) / metrics["finetuned_model"] / "config.json").exists()
    assert "accuracy" in metrics["frozen_embedding_baseline"]
    assert 0 <= metrics["accuracy"] <= 1 and metrics["gold_size"] == 64
    assert Score.objects.filter(round=first, kind="entropy").count() == 32
    second = round_start(project=project, user=admin_user)
    again = round_run(job_claim(Job.objects.get(round=second).pk))
    assert again["started_from"] == metrics["finetuned_model"]


def _round(project, admin_user) -> tuple[Round, dict]:
    from curator.services.rounds import round_start
    from workers.jobs.round import round_run
    from workers.runtime import job_claim

    round_ = round_start(project=project, user=admin_user)
    metrics = round_run(job_claim(Job.objects.get(round=round_).pk))
    round_.refresh_from_db()
    return round_, metrics


@pytest.mark.django_db
def test_margin_round_serves_the_smallest_gap_between_two_labels_first(project, admin_user, member):
    project.settings = {**project.settings, "sampling": "margin", "cold_start_labels": 0}
    project.save()
    pool = sst2_rows("train", limit=240)
    run_import(project, as_jsonl(pool[:40]), split=Split.TRAIN)
    run_import(project, as_jsonl(pool[40:], drop=("label",)), split=Split.POOL)
    round_, metrics = _round(project, admin_user)
    assert metrics["sampling_used"] == "margin" and metrics["sampling_choice"] is None
    assert metrics["selected_batch"] == []
    margin = dict(Score.objects.filter(round=round_, kind="margin").values_list("record", "value"))
    priorities = dict(Record.objects.filter(pk__in=list(margin)).values_list("id", "priority"))
    assert priorities == pytest.approx(margin)
    first = next_assignment(project, member(Role.ANNOTATOR, "zoe")).record_id
    assert margin[first] == max(margin.values())


def _cold_start_project(project) -> None:
    """Margin sampling, cold start below 100 labels, batches of 10; 40 labeled, 260 to label."""
    project.settings = {**project.settings, "sampling": "margin", "cold_start_labels": 100,
                        "batch_size": 10}  # fmt: skip
    project.save()
    pool = sst2_rows("train", limit=300)
    run_import(project, as_jsonl(pool[:40]), split=Split.TRAIN)
    run_import(project, as_jsonl(pool[40:], drop=("label",)), split=Split.POOL)


@pytest.mark.django_db
def test_cold_start_serves_typical_records_first_until_enough_labels_trained(
    client, project, admin_user, member
):
    _cold_start_project(project)
    round_, metrics = _round(project, admin_user)
    assert metrics["sampling"] == "margin" and metrics["sampling_used"] == "typical"
    selected = metrics["selected_batch"]
    assert len(set(selected)) == 10
    margin = dict(Score.objects.filter(round=round_, kind="margin").values_list("record", "value"))
    priorities = dict(Record.objects.filter(pk__in=list(margin)).values_list("id", "priority"))
    assert [priorities[r] for r in selected] == [1000.0 - rank for rank in range(10)]
    rest = set(margin) - set(selected)
    assert {r: priorities[r] for r in rest} == pytest.approx({r: margin[r] for r in rest})
    assert next_assignment(project, member(Role.ANNOTATOR, "zoe")).record_id == selected[0]
    client.force_login(admin_user)
    page = client.get(f"/p/{project.slug}/rounds/{round_.number}/").content.decode()
    assert "cold start of the project" in page and "margin sampling" in page

    # Past the cold start the project's own strategy orders the queue.
    run_import(project, as_jsonl(sst2_rows("dev", limit=80)), split=Split.TRAIN)
    _, later = _round(project, admin_user)
    assert later["train_size"] == 120 and later["sampling_used"] == "margin"


@pytest.mark.django_db
def test_a_rerun_round_puts_the_same_cold_start_batch_first_whatever_the_table_order(
    project, admin_user
):
    # A redelivered round job runs its stages again: the queue it leaves must depend on the
    # project's records and labels, not on the order PostgreSQL happens to store the rows in.
    _cold_start_project(project)
    round_, metrics = _round(project, admin_user)
    assert metrics["sampling_used"] == "typical" and len(metrics["selected_batch"]) == 10
    # Priorities newest first (as a curator's "prioritise" or a later round leaves them): read
    # without ORDER BY, PostgreSQL may now meet the records by the priority index, or by where
    # the UPDATE put their new row versions.
    Record.objects.filter(project=project, split=Split.POOL).update(priority=-F("id"))
    listed = list(Record.objects.filter(project=project).values_list("id", flat=True))
    assert listed != sorted(listed)  # the table's own order is no longer the ids'
    job = Job.objects.get(round=round_)
    assert list(stage_embed(job, round_).split_of) == sorted(listed)  # what the stages read
    again = classifier_round_run(job, round_).metrics
    assert again["sampling_used"] == "typical"
    assert again["selected_batch"] == metrics["selected_batch"]


@pytest.mark.django_db
def test_auto_sampling_starts_cold_then_chooses_from_the_gold_gain_and_says_why(
    client, project, admin_user
):
    assert project.setting("sampling") == "auto"  # the default
    project.settings = {**project.settings, "cold_start_labels": 50}
    project.save()
    train = sst2_rows("train", limit=500)
    run_import(project, as_jsonl(sst2_rows("dev", limit=150)), split=Split.GOLD)
    run_import(project, as_jsonl(train[:30]), split=Split.TRAIN)
    run_import(project, as_jsonl(train[140:], drop=("label",)), split=Split.POOL)
    _, cold = _round(project, admin_user)
    assert cold["sampling_used"] == cold["sampling_choice"]["strategy"] == "typical"
    assert cold["sampling_choice"]["reason"].startswith("cold start: 30 labels trained")
    assert len(cold["selected_batch"]) == project.setting("batch_size")

    # Past the cold start, no strategy measured yet: the bandit's draw decides.
    run_import(project, as_jsonl(train[30:70]), split=Split.TRAIN)
    _, first = _round(project, admin_user)
    played = first["sampling_choice"]["strategy"]
    assert first["sampling_used"] == played in strategy_choice.ARMS
    assert all(a["batches"] == 0 for a in first["sampling_choice"]["arms"].values())

    # The next round measures what that strategy's batch brought on the same gold.
    run_import(project, as_jsonl(train[70:140]), split=Split.TRAIN)
    second, again = _round(project, admin_user)
    arms = again["sampling_choice"]["arms"]
    gain = (again["macro_f1"] - first["macro_f1"]) / np.log2(140 / 70)
    assert arms[played]["batches"] == 1
    assert arms[played]["mean_reward"] == pytest.approx(gain)
    assert sum(a["chance_best"] for a in arms.values()) == pytest.approx(1.0)
    assert again["sampling_used"] == again["sampling_choice"]["strategy"]
    client.force_login(admin_user)
    page = client.get(f"/p/{project.slug}/rounds/{second.number}/").content.decode()
    assert "chosen automatically" in page and 'id="sampling-arms"' in page
    assert again["sampling_choice"]["reason"].split(";")[0] in page
