"""The model registry: versions, promotion and rollback, what jobs run with, export."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.test import Client

from annotation.models import Annotation, Source
from curator.hashing import files_sha256
from curator.model_version_selectors import (
    promoted_version,
    record_model_versions,
    rounds_built_on,
    version_training_items,
)
from curator.models import AuditEvent, Job, ModelVersion, Round
from curator.services.model_versions import (
    PromotionRefused,
    model_version_create,
    model_version_promote,
    model_version_rollback,
)
from tests.conftest import as_jsonl, sst2_rows
from tests.model_adapters import BASE, base_folder, make_adapter
from tests.test_imports import run_import
from tests.test_model_jobs import start


@pytest.fixture(scope="session")
def adapters(media_root: Path) -> dict[str, Path]:
    """Two different causal-LM adapters and a reward adapter, saved once per session."""
    folder = media_root / "models" / "registry-tests"
    return {
        "first": make_adapter(folder / "first", seed=1),
        "second": make_adapter(folder / "second", seed=2),
        "reward": make_adapter(folder / "reward", seed=3, reward=True),
    }


def create(project, adapters, which="first", kind="sft", **extra) -> ModelVersion:
    return model_version_create(project=project, kind=kind, adapter_dir=adapters[which], **extra)


@pytest.mark.django_db
def test_versions_are_numbered_per_project_with_adapter_sha256_and_round_digest(project, adapters):
    round_ = Round.objects.create(project=project, number=1, snapshot_sha256="ab" * 32)
    first = create(project, adapters, round_=round_, hyperparameters={"lora_r": 4})
    assert (first.number, first.status, first.role) == (1, "candidate", "llm")
    assert first.base_model == BASE  # the project's LLM setting (the default)
    assert first.adapter_sha256 == files_sha256(adapters["first"])
    assert first.snapshot_sha256 == "ab" * 32
    assert first.adapter_path == "models/registry-tests/first"
    # A redelivered round job registering again gets the same row back.
    assert create(project, adapters, round_=round_).pk == first.pk
    second = create(project, adapters, "second", kind="dpo", parent=first)
    assert (second.number, second.parent_id) == (2, first.pk)
    assert ModelVersion.objects.filter(project=project).count() == 2


@pytest.mark.django_db
def test_an_adapter_outside_media_root_is_refused(project, tmp_path):
    outside = tmp_path / "adapter"
    outside.mkdir()
    with pytest.raises(ValueError, match="under MEDIA_ROOT"):
        model_version_create(project=project, kind="sft", adapter_dir=outside)
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_promotion_retires_the_previous_version_and_rollback_walks_back(
    project, adapters, admin_user
):
    v1 = create(project, adapters)
    v2 = create(project, adapters, "second", parent=v1)
    reward = create(project, adapters, "reward", kind="reward")
    model_version_promote(v1, admin_user)
    model_version_promote(reward, admin_user)  # its own role: the LLM stays v1
    assert promoted_version(project) == v1
    model_version_promote(v2, admin_user)
    v1.refresh_from_db()
    assert (v1.status, promoted_version(project), v2.replaced) == ("retired", v2, v1)
    assert promoted_version(project, ModelVersion.Role.REWARD) == reward
    with pytest.raises(PromotionRefused, match="already promoted"):
        model_version_promote(v2, admin_user)

    assert model_version_rollback(project, admin_user) == v1
    assert promoted_version(project) == v1
    v2.refresh_from_db()
    assert v2.status == "retired"
    # v1 replaced nothing: the next rollback returns the project to its base model.
    assert model_version_rollback(project, admin_user) is None
    assert promoted_version(project) is None
    with pytest.raises(PromotionRefused, match="nothing to roll back"):
        model_version_rollback(project, admin_user)
    assert list(
        AuditEvent.objects.filter(project=project, action__startswith="model.")
        .order_by("id")
        .values_list("action", "target")
    ) == [
        ("model.promote", "v1"), ("model.promote", "v3"), ("model.promote", "v2"),
        ("model.rollback", "v2"), ("model.rollback", "v1"),
    ]  # fmt: skip


@pytest.mark.django_db
def test_only_admins_promote_and_roll_back(project, adapters, admin_user, curator_user, annotator):
    v1 = create(project, adapters)
    for user in (curator_user, annotator):
        with pytest.raises(PermissionDenied):
            model_version_promote(v1, user)
    model_version_promote(v1, admin_user)
    with pytest.raises(PermissionDenied):
        model_version_rollback(project, curator_user)
    assert promoted_version(project) == v1


@pytest.mark.django_db
def test_the_database_refuses_two_promoted_versions_of_one_role(project, adapters):
    v1, v2 = create(project, adapters), create(project, adapters, "second")
    ModelVersion.objects.filter(pk=v1.pk).update(status="promoted")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=v2.pk).update(status="promoted")


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_promotions_leave_exactly_one_promoted(project, adapters, admin_user):
    v1, v2 = create(project, adapters), create(project, adapters, "second")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def promote(version: ModelVersion) -> None:
        try:
            barrier.wait()
            model_version_promote(ModelVersion.objects.get(pk=version.pk), admin_user)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=promote, args=(v,)) for v in (v1, v2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    statuses = dict(ModelVersion.objects.values_list("number", "status"))
    assert sorted(statuses.values()) == ["promoted", "retired"]
    # Serialised: the winner of the lock is what the later promotion replaced.
    later = ModelVersion.objects.get(status="promoted")
    assert later.replaced is not None and later.replaced.status == "retired"


@pytest.mark.django_db
def test_api_promotes_rolls_back_and_shows_lineage(project, adapters, admin_user):
    round_ = Round.objects.create(project=project, number=1, snapshot_sha256="cd" * 32)
    v1 = create(project, adapters, round_=round_)
    round_two = Round.objects.create(project=project, number=2)
    create(project, adapters, "second", parent=v1, round_=round_two)
    client = Client()
    client.force_login(admin_user)
    base = f"/api/projects/{project.slug}/models/"
    listed = client.get(base).json()
    assert [v["version"] for v in listed] == [2, 1]
    response = client.post(f"{base}1/promote/")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["promoted_by"]) == ("promoted", "ada")
    assert client.post(f"{base}1/promote/").status_code == 409
    detail = client.get(f"{base}1/").json()
    assert detail["lineage"] == {
        "round": 1, "snapshot_sha256": "cd" * 32, "training_items": 0, "parent": None,
        "ancestors": [], "children": [2], "rounds_built_on": [2], "jobs": 0,
    }  # fmt: skip
    assert client.get(f"{base}2/").json()["lineage"]["ancestors"] == [1]
    assert client.get(f"{base}9/").status_code == 404
    rolled = client.post(f"{base}rollback/", {"role": "llm"}, content_type="application/json")
    assert (rolled.status_code, rolled.json()) == (200, {"promoted": None})
    assert client.post(f"{base}rollback/").status_code == 409
    bad = client.post(f"{base}rollback/", {"role": "nope"}, content_type="application/json")
    assert bad.status_code == 400
    assert list(rounds_built_on(v1)) == [round_two]
    assert version_training_items(v1).count() == 0


@pytest.mark.django_db
def test_models_page_lists_versions_and_only_admins_see_promote(
    project, adapters, admin_user, curator_user
):
    project.name = "<script>alert(1)</script>"
    project.save(update_fields=["name"])
    create(project, adapters)
    client = Client()
    client.force_login(curator_user)
    page = client.get(f"/p/{project.slug}/models/").content.decode()
    assert "v1" in page and "Export zip" in page and ">Promote</button>" not in page
    assert "<script>alert(1)</script>" not in page
    client.force_login(admin_user)
    page = client.get(f"/p/{project.slug}/models/").content.decode()
    assert ">Promote</button>" in page and "the base model" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    fragment = client.post(f"/p/{project.slug}/models/1/promote/", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    assert 'id="model-versions"' in fragment.content.decode()
    assert "v1 promoted" in fragment.content.decode()
    assert promoted_version(project).number == 1
    assert "Models" in client.get(f"/p/{project.slug}/").content.decode()


@pytest.mark.django_db
def test_export_zip_holds_a_peft_adapter_that_loads_and_its_manifest(
    project, adapters, admin_user, tmp_path
):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    round_ = Round.objects.create(project=project, number=1, snapshot_sha256="ef" * 32)
    version = create(project, adapters, round_=round_, metrics={"rouge_l": 0.25})
    client = Client()
    client.force_login(admin_user)
    response = client.get(f"/api/projects/{project.slug}/models/1/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["base_model"] == BASE
    assert (manifest["version"], manifest["round"], manifest["parent"]) == (1, 1, None)
    assert manifest["snapshot_sha256"] == "ef" * 32
    assert manifest["adapter_sha256"] == version.adapter_sha256
    assert manifest["metrics"] == {"rouge_l": 0.25}
    archive.extractall(tmp_path)
    assert files_sha256(tmp_path / "adapter") == version.adapter_sha256
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_folder()), tmp_path / "adapter"
    )
    assert model.peft_config["default"].r == 4
    # A tampered adapter is not handed out as the registered version.
    (adapters["first"] / "extra.bin").write_bytes(b"changed")
    try:
        assert client.get(f"/api/projects/{project.slug}/models/1/export/").status_code == 409
    finally:
        (adapters["first"] / "extra.bin").unlink()


@pytest.mark.django_db
def test_the_promoted_adapter_changes_what_the_llm_says(project, adapters, admin_user):
    from workers.jobs.project_llm import version_llm

    version = create(project, adapters)
    base, tuned = version_llm(project, None), version_llm(project, version)
    assert base.identity == "HuggingFaceTB/SmolLM2-135M-Instruct@Q4_1"
    assert tuned.identity == f"{base.identity}+v1@{version.adapter_sha256[:8]}"
    prompt = [[{"role": "user", "content": "Is this review positive? 'A wonderful film.'"}]]
    assert not np.allclose(
        base.option_logprobs(prompt, ["Yes", "No"]), tuned.option_logprobs(prompt, ["Yes", "No"])
    )


@pytest.mark.django_db(transaction=True)
def test_prelabel_after_promotion_records_the_version_and_rollback_restores_the_base(
    celery_worker, project, adapters, admin_user, curator_user
):
    run_import(project, as_jsonl(sst2_rows("train", 10)), split="train")  # few-shot source
    run_import(project, as_jsonl(sst2_rows("dev", 6), drop=("label",)))
    version = create(project, adapters)
    model_version_promote(version, admin_user)
    client = Client()
    client.force_login(curator_user)

    tuned = start(client, project, "prelabel", limit=3, chunk_size=2)
    assert tuned.status == Job.Status.SUCCEEDED, tuned.error
    identity = f"HuggingFaceTB/SmolLM2-135M-Instruct@Q4_1+v1@{version.adapter_sha256[:8]}"
    assert tuned.model_identity == {"llm": identity}
    assert tuned.model_version == version
    assert tuned.params["llm_version"] == version.pk
    labels = Annotation.objects.filter(job=tuned, source=Source.LLM)
    assert labels.count() == 3
    labeled = labels.first().record
    assert [(m.what, m.version) for m in record_model_versions(labeled)] == [("labeled", 1)]
    job_row = client.get(f"/api/projects/{project.slug}/jobs/{tuned.pk}/").json()
    assert job_row["model_version"] == 1

    assert model_version_rollback(project, admin_user) is None
    restored = start(client, project, "prelabel", limit=3, chunk_size=2)
    assert restored.status == Job.Status.SUCCEEDED, restored.error
    assert restored.model_identity == {"llm": "HuggingFaceTB/SmolLM2-135M-Instruct@Q4_1"}
    assert restored.model_version is None
    assert Job.objects.filter(model_version=version).count() == 1


@pytest.mark.django_db
def test_a_promoted_reward_model_scores_generated_items_and_none_scores_nothing(
    project, adapters, admin_user
):
    from curator.models import Score
    from workers.jobs.reward_scores import reward_scores_store

    job = Job.objects.create(project=project, kind=Job.Kind.GENERATE)
    run_import(project, as_jsonl(sst2_rows("dev", 2), drop=("label",)))
    ids = list(project.records.order_by("id").values_list("id", flat=True))
    prompts = ["Write a text of the label 'Positive'."] * 2
    texts = [r.payload["text"] for r in project.records.order_by("id")]
    assert reward_scores_store(job, ids, prompts, texts) is False
    assert not Score.objects.filter(kind="reward").exists()

    reward = create(project, adapters, "reward", kind="reward")
    model_version_promote(reward, admin_user)
    assert reward_scores_store(job, ids, prompts, texts) is True
    scores = list(Score.objects.filter(kind="reward", job=job).order_by("record_id"))
    assert [s.record_id for s in scores] == ids
    assert scores[0].model_identity.endswith(f"+v1@{reward.adapter_sha256[:8]}|reward")
    assert scores[0].value != scores[1].value


@pytest.mark.django_db
def test_a_job_keeps_the_version_it_started_with_and_the_next_job_takes_the_new_one(
    project, adapters, admin_user
):
    from workers.jobs.project_llm import job_version

    v1, v2 = create(project, adapters), create(project, adapters, "second")
    before = Job.objects.create(project=project, kind=Job.Kind.PRELABEL)
    assert job_version(before) is None  # nothing promoted: the base model, pinned too
    model_version_promote(v1, admin_user)
    running = Job.objects.create(project=project, kind=Job.Kind.GENERATE)
    assert job_version(running) == v1
    model_version_promote(v2, admin_user)  # while its chunks still run
    assert job_version(Job.objects.get(pk=running.pk)) == v1
    assert job_version(Job.objects.get(pk=before.pk)) is None
    later = Job.objects.create(project=project, kind=Job.Kind.JUDGE)
    assert job_version(later) == v2
    assert Job.objects.get(pk=later.pk).model_version == v2
