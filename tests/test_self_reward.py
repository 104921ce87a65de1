"""Self-rewarding pairs under human review: the promoted LLM answers prompts several times, the
judge (or the promoted reward model) ranks the answers, best-versus-worst pairs wait for
curators, and only approved pairs enter the next DPO snapshot. Real worker, bundled SmolLM2,
tiny settings (2 prompts, 2 answers each, 12 new tokens)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from annotation.models import Annotation, Source
from curator import job_kinds
from curator.algorithms import self_reward as ranking
from curator.algorithms.judging import PairVerdict
from curator.hashing import content_hash
from curator.models import (
    Job,
    LineageEdge,
    ModelVersion,
    Record,
    ReviewState,
    Role,
    RoundSnapshotItem,
    Score,
    Split,
)
from curator.round_kinds.llm_data import preference_snapshot_rows
from curator.services.curation import item_review
from curator.services.model_versions import model_version_create, model_version_promote
from tests.conftest import as_jsonl
from tests.model_adapters import make_adapter
from tests.test_imports import run_import
from tests.test_llm_rounds import LLM_SETTINGS, finish_round, short_pairs, start_round
from tests.test_model_jobs import start
from tests.test_workspace import api, join, make_project

TINY = {"limit": 2, "n": 2, "max_new_tokens": 12, "temperature": 1.0, "chunk_size": 1}


def labeled(pair: dict) -> dict:
    return {
        "prompt": pair["prompt"], "response_a": pair["response_a"],
        "response_b": pair["response_b"], "label": {"choice": pair["preferred"], "reason": ""},
    }  # fmt: skip


@pytest.fixture
def preference_project(admin_user):
    """Two settled pairs (train), two unlabeled pairs (pool) and two gold pairs."""
    project = make_project(admin_user, "pairwise", [], **LLM_SETTINGS)
    pairs = short_pairs(6)
    run_import(project, as_jsonl([labeled(p) for p in pairs[:2]]), split=Split.TRAIN)
    pool = [{k: p[k] for k in ("prompt", "response_a", "response_b")} for p in pairs[2:4]]
    run_import(project, as_jsonl(pool), split=Split.POOL)
    run_import(project, as_jsonl([labeled(p) for p in pairs[4:]]), split=Split.GOLD)
    return project


def snapshot(project) -> dict[int, str]:
    return {row.record_id: row.label for row in preference_snapshot_rows(project)}


def promote(project, admin_user, folder: Path, kind: str, seed: int) -> ModelVersion:
    version = model_version_create(
        project=project,
        kind=kind,
        adapter_dir=make_adapter(folder, seed=seed, reward=kind == "reward"),
    )
    model_version_promote(version, admin_user)
    return version


# --- the ranking (pure) -------------------------------------------------------------------------


def test_round_robin_ranks_by_mean_win_probability_and_best_goes_to_a_seeded_position():
    pairs = ranking.round_robin_pairs(3)
    assert pairs == [(0, 1), (0, 2), (1, 2)]
    # 2 beats 0 and 1; 0 beats 1.
    verdicts = [PairVerdict(0.8, "a", False), PairVerdict(0.1, "b", False),
                PairVerdict(0.3, "b", False)]  # fmt: skip
    scores = ranking.round_robin_scores(3, pairs, verdicts)
    assert scores == pytest.approx([(0.8 + 0.1) / 2, (0.2 + 0.3) / 2, (0.9 + 0.7) / 2])
    assert ranking.best_and_worst(scores) == ranking.Ranked(best=2, worst=1)
    assert ranking.best_and_worst([0.5, 0.5]) is None  # the judge could not tell them apart
    assert ranking.distinct_candidates(["Yes.", "yes", "", "No!"]) == ["Yes.", "No!"]
    positions = [ranking.best_position(7, unit) for unit in range(200)]
    assert positions == [ranking.best_position(7, unit) for unit in range(200)]
    assert 70 < positions.count("a") < 130  # not always first


# --- end to end ---------------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_pairs_wait_for_review_and_only_approved_ones_enter_the_next_dpo_snapshot(
    celery_worker, preference_project, admin_user, make_user, media_root
):
    project = preference_project
    version = promote(project, admin_user, media_root / "self-reward" / "llm", "dpo", seed=5)
    curator = join(project, make_user, Role.CURATOR, "cleo")
    client = api(curator)
    before = snapshot(project)
    assert len(before) == 2  # the two settled human choices

    job = start(client, project, "self_reward", seed=3, **TINY)
    assert job.status == Job.Status.SUCCEEDED, job.error
    # Lineage to the model version and the judge that made the pairs.
    assert job.model_version_id == version.pk
    assert f"+v{version.number}@{version.adapter_sha256[:8]}" in job.model_identity["llm"]
    assert job.model_identity["judge"].startswith(job.model_identity["llm"])
    assert job.params["ranked_by"] == "judge"
    items = list(Record.objects.filter(created_by_job=job).order_by("id"))
    assert 1 <= len(items) <= 2 and len(items) + job.metrics["no_pair"] == 2
    prompt_ids = set(
        project.records.filter(split__in=[Split.POOL, Split.TRAIN], created_by_job__kind="import")
        .values_list("id", flat=True)
    )  # fmt: skip
    for item in items:
        assert (item.review, item.origin, item.split) == ("pending", "synthetic", "pool")
        edge = LineageEdge.objects.get(child=item, job=job)
        assert edge.operation == "self_reward" and edge.parent_id in prompt_ids
        assert Record.objects.get(pk=edge.parent_id).payload["prompt"] == item.payload["prompt"]
        source = item.source
        assert (source["n"], source["llm_version"], source["ranker"]) == (
            2, version.pk, job.model_identity["judge"],
        )  # fmt: skip
        # The best candidate sits at the intended choice; the worst is the other response.
        best = source["candidates"][source["scores"].index(max(source["scores"]))]
        worst = source["candidates"][source["scores"].index(min(source["scores"]))]
        other = "b" if source["best"] == "a" else "a"
        assert (item.payload[f"response_{source['best']}"], item.payload[f"response_{other}"]) == (
            best, worst,
        )  # fmt: skip
        intended = Annotation.objects.get(record=item, source=Source.LLM, job=job).value
        assert intended["choice"] == source["best"]
        margin = Score.objects.get(record=item, kind="judge_margin").value
        assert 0 < margin <= 1  # the judge preferred the best over the worst, both orders
    # Pending pairs never train.
    assert snapshot(project) == before

    page = api(curator).get(f"/p/{project.slug}/batches/{job.pk}/").content.decode()
    assert "Approve" in page and "is better" in page
    body = client.get(f"/api/projects/{project.slug}/batches/{job.pk}/").json()
    assert {i["id"] for i in body["items"]} == {i.pk for i in items}
    assert all(i["pair"]["prompt"] for i in body["items"])

    first, *rest = items
    choice = first.source["best"]
    approved = client.post(
        f"/api/projects/{project.slug}/records/{first.pk}/review-item/", {"decision": "approve"}
    )
    assert approved.status_code == 200, approved.content
    after = snapshot(project)
    assert after == {**before, first.pk: choice}  # choice = the best

    if rest:
        second = rest[0]
        choice = second.source["best"]
        edited = client.post(
            f"/api/projects/{project.slug}/records/{second.pk}/review-item/",
            {"decision": "edit", "text": "I can't help with that, but here is a safer idea."},
        )
        assert edited.status_code == 200, edited.content
        copy = Record.objects.get(pk=edited.json()["id"])
        assert LineageEdge.objects.filter(parent=second, child=copy, operation="edit").exists()
        # The curator rewrote the chosen answer; the rejected one is kept as it was.
        other = "b" if choice == "a" else "a"
        assert copy.payload[f"response_{choice}"].startswith("I can't help")
        assert copy.payload[f"response_{other}"] == second.payload[f"response_{other}"]
        assert Record.objects.get(pk=second.pk).review == ReviewState.REJECTED
        assert snapshot(project) == {**after, copy.pk: choice}

    # The next DPO round trains on exactly the settled pairs, the approved one included.
    dpo, round_job = finish_round(start_round(api(admin_user), project, "dpo"))
    assert round_job.status == Job.Status.SUCCEEDED, round_job.error
    trained = dict(RoundSnapshotItem.objects.filter(round=dpo).values_list("record_id", "label"))
    assert trained == snapshot(project) and trained[first.pk] == first.source["best"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_promoted_reward_model_ranks_when_asked_and_the_judge_when_none_is(
    celery_worker, preference_project, admin_user, media_root
):
    project = preference_project
    client = api(admin_user)
    fallback = start(client, project, "self_reward", ranker="reward", seed=1, **TINY)
    assert fallback.status == Job.Status.SUCCEEDED, fallback.error
    assert fallback.params["ranked_by"] == "judge" and "reward" not in fallback.model_identity
    assert fallback.model_version_id is None  # the base model: nothing promoted

    reward = promote(project, admin_user, media_root / "self-reward" / "reward", "reward", 9)
    job = start(client, project, "self_reward", ranker="reward", seed=2, **TINY)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.params["ranked_by"] == "reward" and job.params["reward_version"] == reward.pk
    assert f"v{reward.number}@" in job.model_identity["reward"]
    items = Record.objects.filter(created_by_job=job)
    assert items.exists()
    for item in items:
        gap = Score.objects.get(record=item, kind="reward_gap")
        assert gap.value > 0 and gap.model_identity == job.model_identity["reward"]
        assert item.source["reward_gap"] == pytest.approx(gap.value)
    assert job.metrics["ranked_by"] == "reward" and job.metrics["mean_margin"] > 0


# --- who may start it, and what is refused ------------------------------------------------------


@pytest.mark.django_db
def test_annotators_cannot_start_it_and_bad_requests_are_refused(
    preference_project, admin_user, make_user, project
):
    pairwise = preference_project
    annotator = join(pairwise, make_user, Role.ANNOTATOR, "ann")
    curator = join(pairwise, make_user, Role.CURATOR, "cur")

    def post(user, slug, params):
        return api(user).post(
            f"/api/projects/{slug}/jobs/", {"kind": "self_reward", "params": params},
            content_type="application/json",
        )  # fmt: skip

    assert post(annotator, pairwise.slug, {}).status_code == 403
    for params, message in (
        ({"n": 1}, "must be between 2"),
        ({"ranker": "vibes"}, "must be one of"),
        ({"temperature": "hot"}, "must be a number"),
        ({"prompt_records": [project.records.create(payload={"text": "x"},
                                                    content_hash="y" * 64).pk]},
         "records of this project"),
        ({"count": 3}, "unknown parameter"),
    ):  # fmt: skip
        response = post(curator, pairwise.slug, params)
        # Refused before queueing, as every job kind's parameter checks are (400, by parameter).
        assert response.status_code == 400 and message in response.content.decode(), params
    classification = post(admin_user, project.slug, {})
    assert classification.status_code == 409
    assert "pairwise" in classification.content.decode()
    assert not Job.objects.filter(kind="self_reward").exists()
    # A round's pipeline may run it.
    assert "self_reward" in job_kinds.pipeline_steps()

    # The data page offers only the batch jobs that fit.
    page = api(curator).get(f"/p/{pairwise.slug}/data/").content.decode()
    assert "Make self-rewarding pairs" in page and "Generate a batch" not in page
    page = api(admin_user).get(f"/p/{project.slug}/data/").content.decode()
    assert "Generate a batch" in page and "Make self-rewarding pairs" not in page


@pytest.mark.django_db
def test_a_pair_edited_as_a_tie_is_refused_and_nothing_changes(preference_project, admin_user):
    project = preference_project
    job = Job.objects.create(project=project, kind="self_reward", params={})
    payload = {"prompt": "Say hi.", "response_a": "Hi!", "response_b": "Go away."}
    item = Record.objects.create(
        project=project, payload=payload, content_hash=content_hash(payload),
        created_by_job=job, review=ReviewState.PENDING,
    )  # fmt: skip
    Annotation.objects.create(
        record=item, project=project, value={"choice": "a", "reason": ""}, source=Source.LLM,
        job=job,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="a tie has no chosen response"):
        item_review(record=item, user=admin_user, decision="edit", text="Hello.", label="tie")
    assert Record.objects.filter(project=project).count() == 7
    assert Record.objects.get(pk=item.pk).review == ReviewState.PENDING
    item_review(record=item, user=admin_user, decision="edit", text="Hello there!", label="b")
    copy = Record.objects.get(parent_edges__parent=item)
    assert copy.payload == {**payload, "response_b": "Hello there!"}
    assert snapshot(project)[copy.pk] == "b"
