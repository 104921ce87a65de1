"""LLM post-training rounds end to end through the real worker, on the bundled SmolLM2-135M:
an SFT round on corrected responses, DPO and reward rounds on settled choices, promotion of the
candidate (the next job labels with it), rollback, cancel mid-training and a worker killed
mid-training. Tiny LoRA runs (a few steps at batch 2) keep each under a minute or two on CPU."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.conf import settings

from curator import public_data
from curator.hashing import files_sha256
from curator.models import Job, ModelVersion, Role, Round, RoundSnapshotItem, Split
from tests.conftest import as_jsonl, wait_for_job
from tests.test_imports import run_import
from tests.test_workspace import api, join, make_project

TINY_TRAINING = {
    "lora_rank": 8, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": ["q_proj", "v_proj"],
    "learning_rate": 1e-3, "max_steps": 4, "max_length": 160, "per_device_batch_size": 2,
    "save_steps": 1,
}  # fmt: skip
LLM_SETTINGS = {
    "llm_training": TINY_TRAINING,
    "llm_eval_gold_limit": 2,
    "llm_eval_max_new_tokens": 8,
    "score_toxicity_on_import": False,
}


def short_instructions(n: int) -> list[dict[str, str]]:
    rows = [r for r in public_data.alpaca(600) if len(r["prompt"]) + len(r["draft"]) < 240]
    return rows[:n]


def short_pairs(n: int) -> list[dict[str, str]]:
    return [
        pair
        for pair in public_data.hh_pairs()
        if len(pair["prompt"]) + max(len(pair["response_a"]), len(pair["response_b"])) < 260
    ][:n]


def correction_project(admin_user, training: int = 4, **settings_):
    project = make_project(admin_user, "correction", [], **{**LLM_SETTINGS, **settings_})
    rows = short_instructions(training + 3)
    labeled = [
        {"prompt": r["prompt"], "draft": "", "label": {"text": r["draft"]}} for r in rows
    ]  # the reference answers people wrote
    run_import(project, as_jsonl(labeled[:training]), split=Split.TRAIN)
    run_import(project, as_jsonl(labeled[training : training + 2]), split=Split.GOLD)
    run_import(project, as_jsonl([{"prompt": rows[-1]["prompt"]}]), split=Split.POOL)
    return project


def preference_project(admin_user, training: int = 4):
    project = make_project(admin_user, "pairwise", [], **LLM_SETTINGS)
    pairs = short_pairs(training + 2)
    labeled = [
        {
            "prompt": p["prompt"], "response_a": p["response_a"], "response_b": p["response_b"],
            "label": {"choice": p["preferred"], "reason": ""},
        }
        for p in pairs
    ]  # fmt: skip
    run_import(project, as_jsonl(labeled[:training]), split=Split.TRAIN)
    run_import(project, as_jsonl(labeled[training:]), split=Split.GOLD)
    return project


def start_round(client, project, kind: str) -> Round:
    response = client.post(
        f"/api/projects/{project.slug}/rounds/", {"kind": kind}, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    return Round.objects.get(pk=response.json()["id"])


def finish_round(round_: Round, timeout: float = 900) -> tuple[Round, Job]:
    job = wait_for_job(Job.objects.get(round=round_).pk, timeout=timeout)
    round_.refresh_from_db()
    return round_, job


def variants(round_: Round) -> dict[str, dict]:
    return {row["variant"]: row for row in round_.metrics["evaluation"]["rows"]}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_sft_round_trains_registers_a_candidate_and_the_promoted_version_labels_next(
    celery_worker, admin_user
):
    project = correction_project(admin_user)
    client = api(admin_user)
    round_, job = finish_round(start_round(client, project, "sft"))
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert round_.status == Round.Status.SUCCEEDED and round_.kind == "sft"

    # Exactly the four corrected responses trained; gold never did.
    snapshot = RoundSnapshotItem.objects.filter(round=round_)
    assert snapshot.count() == 4
    assert not snapshot.filter(record__split=Split.GOLD).exists()
    training = round_.metrics["training"]
    losses = [point["loss"] for point in training["loss_curve"]]
    assert training["steps"] == 4 and len(losses) == 4
    # Steps 3-4 see the same rows again (2 rows a step, 4 rows): the loss on them fell.
    assert sum(losses[2:]) < sum(losses[:2])

    version = ModelVersion.objects.get(round=round_)
    assert (version.kind, version.status, version.parent) == ("sft", "candidate", None)
    assert version.snapshot_sha256 == round_.snapshot_sha256 != ""
    assert version.adapter_sha256 == files_sha256(Path(settings.MEDIA_ROOT) / version.adapter_path)
    assert version.hyperparameters["max_steps"] == 4
    table = variants(round_)
    assert list(table) == ["base", "in_context", "candidate"]
    for row in table.values():
        assert row["mean_loglik"] < 0 and 0 <= row["rouge_l"] <= 1
    win = table["candidate"]["win_rate"]
    assert win["judged"] == 2 and win["ci_low"] <= win["win_rate"] <= win["ci_high"]
    assert 0 <= win["position_bias_rate"] <= 1
    assert round_.metrics["evaluation"]["samples"][0]["candidate"] is not None

    # Promoted, the candidate is the LLM of the next job; rolled back, the base is again.
    response = client.post(f"/api/projects/{project.slug}/models/{version.number}/promote/")
    assert response.status_code == 200, response.content

    def prelabel_identity() -> tuple[str, int | None]:
        response = client.post(
            f"/api/projects/{project.slug}/jobs/",
            {"kind": "prelabel", "params": {"limit": 1, "max_new_tokens": 8}},
            content_type="application/json",
        )
        assert response.status_code == 202, response.content
        done = wait_for_job(response.json()["id"], timeout=600)
        assert done.status == Job.Status.SUCCEEDED, done.error
        return done.model_identity["llm"], done.model_version_id

    identity, version_id = prelabel_identity()
    assert f"+v{version.number}@{version.adapter_sha256[:8]}" in identity
    assert version_id == version.pk
    assert client.post(f"/api/projects/{project.slug}/models/rollback/").status_code == 200
    identity, version_id = prelabel_identity()
    assert "+v" not in identity and version_id is None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_dpo_and_reward_rounds_learn_the_settled_choices(celery_worker, admin_user):
    project = preference_project(admin_user)
    client = api(admin_user)
    dpo, job = finish_round(start_round(client, project, "dpo"))
    assert job.status == Job.Status.SUCCEEDED, job.error
    # Ties make no pair; all four training pairs were settled A or B.
    assert set(RoundSnapshotItem.objects.filter(round=dpo).values_list("label", flat=True)) <= {
        "a",
        "b",
    }
    table = variants(dpo)
    assert table["candidate"]["preference_accuracy"] is not None
    assert 0 <= table["candidate"]["preference_accuracy"] <= 1
    assert table["candidate"]["win_rate"]["judged"] == 2
    version = ModelVersion.objects.get(round=dpo)
    assert (version.kind, version.role) == ("dpo", "llm")

    reward, job = finish_round(start_round(client, project, "reward"))
    assert job.status == Job.Status.SUCCEEDED, job.error
    reward_version = ModelVersion.objects.get(round=reward)
    assert (reward_version.kind, reward_version.role) == ("reward", "reward")
    assert 0 <= variants(reward)["candidate"]["reward_accuracy"] <= 1


@pytest.mark.django_db
def test_only_kinds_that_fit_are_offered_and_only_admins_start_them(admin_user, make_user):
    project = make_project(admin_user, "correction", [], **LLM_SETTINGS)
    curator = join(project, make_user, Role.CURATOR, "cara")
    assert (
        api(curator)
        .post(
            f"/api/projects/{project.slug}/rounds/",
            {"kind": "sft"},
            content_type="application/json",
        )
        .status_code
        == 403
    )
    refused = api(admin_user).post(
        f"/api/projects/{project.slug}/rounds/", {"kind": "dpo"}, content_type="application/json"
    )
    assert refused.status_code == 400 and "sft" in refused.content.decode()
    page = api(admin_user).get(f"/p/{project.slug}/").content.decode()
    assert "Supervised fine-tuning" in page and "Preference optimisation" not in page
    assert not Round.objects.filter(project=project).exists()


def wait_until(predicate, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def training_step(round_: Round) -> int:
    job = Job.objects.get(round=round_)
    return job.progress_done if job.stage == "training" else 0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_cancel_stops_training_between_steps_and_registers_nothing(celery_worker, admin_user):
    project = correction_project(admin_user, llm_training={**TINY_TRAINING, "max_steps": 60})
    client = api(admin_user)
    round_ = start_round(client, project, "sft")
    wait_until(lambda: training_step(round_) >= 1)
    assert client.post(
        f"/api/projects/{project.slug}/rounds/{round_.number}/cancel/"
    ).status_code in (
        200,
        202,
    )
    job = wait_for_job(Job.objects.get(round=round_).pk)
    assert job.status == Job.Status.CANCELLED
    round_.refresh_from_db()
    assert round_.status == Round.Status.CANCELLED
    time.sleep(3)  # the trainer stops at its next step boundary
    assert not ModelVersion.objects.filter(round=round_).exists()
    assert max(p["step"] for p in (job.metrics or {}).get("loss_curve", [{"step": 1}])) < 60


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_training_resumes_from_its_checkpoint(celery_worker, admin_user):
    project = correction_project(admin_user, llm_training={**TINY_TRAINING, "max_steps": 6})
    round_ = start_round(api(admin_user), project, "sft")
    wait_until(lambda: training_step(round_) >= 2)
    celery_worker.kill()
    assert Job.objects.get(round=round_).status == Job.Status.RUNNING
    celery_worker.start()  # the sweep hands the job back once its lease has passed

    round_, job = finish_round(round_)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts >= 2
    training = round_.metrics["training"]
    assert training["resumed_from_step"] >= 1 and training["steps"] == 6
    assert [point["step"] for point in training["loss_curve"]] == [1, 2, 3, 4, 5, 6]
    assert ModelVersion.objects.filter(round=round_).count() == 1
