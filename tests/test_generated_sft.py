"""Generated instruction items for correction projects: the promoted LLM writes new prompts from
seed prompts and answers them; curators approve, correct or reject the batch; approved items (with
the curator's response where they corrected it) train the next SFT round, and nothing else does."""

from __future__ import annotations

import pytest

from annotation import task_types
from annotation.labels import training_labels
from annotation.models import Annotation, Source
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
from curator.round_kinds.llm_data import response_label, sft_snapshot_rows
from curator.services.model_versions import model_version_create, model_version_promote
from tests.conftest import wait_for_job
from tests.model_adapters import make_adapter
from tests.test_llm_rounds import correction_project, start_round
from tests.test_model_jobs import start
from tests.test_workspace import api, join, make_project

# Short prompts and answers keep the job to seconds on a CPU.
TINY = {"count": 3, "max_new_tokens": 20, "response_max_new_tokens": 12, "temperature": 0.7,
        "chunk_size": 3}  # fmt: skip
EDITED = "Boil water, add the pasta & salt, and cook it <al dente> for 9 minutes."


def snapshot(project) -> dict[int, str]:
    return {row.record_id: row.label for row in sft_snapshot_rows(project)}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_generated_items_wait_for_review_and_approved_ones_train_the_next_sft_round(
    celery_worker, admin_user, make_user, media_root
):
    project = correction_project(admin_user, training=4)
    version = model_version_create(
        project=project, kind=ModelVersion.Kind.SFT,
        adapter_dir=make_adapter(media_root / "generated-sft" / "llm", seed=2),
    )  # fmt: skip
    model_version_promote(version, admin_user)
    curator = join(project, make_user, Role.CURATOR, "cleo")
    client = api(curator)
    before = snapshot(project)
    assert len(before) == 4  # the four human-written responses

    job = start(client, project, "generate", timeout=900, generator="instruction", seed=1, **TINY)
    assert job.status == Job.Status.SUCCEEDED, job.error
    # Lineage: the promoted version wrote the batch, from prompts that may train (never gold).
    assert job.model_version_id == version.pk
    assert f"+v{version.number}@{version.adapter_sha256[:8]}" in job.model_identity["llm"]
    seeds = set(
        project.records.filter(split__in=[Split.TRAIN, Split.POOL]).values_list("id", flat=True)
    )
    items = list(Record.objects.filter(created_by_job=job).order_by("id"))
    failed = LineageEdge.objects.filter(job=job, operation="generate-failed").count()
    assert len(items) + failed == 3 and len(items) >= 3, [i.payload for i in items]
    for item in items:
        assert (item.review, item.origin, item.split) == ("pending", "synthetic", "pool")
        assert set(item.payload) == {"prompt", "draft"}
        assert item.payload["prompt"].strip() and item.payload["draft"].strip()
        edge = LineageEdge.objects.get(child=item, job=job)
        assert edge.operation == "instruction" and edge.parent_id in seeds
        assert item.source["llm_version"] == version.pk and item.source["seed"] == edge.parent_id
        examples = set(item.source["examples"])
        assert examples <= seeds and edge.parent_id not in examples and len(examples) == 2
        # Few-shot: the seed's prompt and its companions' are in what the LLM was asked.
        shown = Record.objects.filter(pk__in=[edge.parent_id, *item.source["examples"]])
        for prompt in shown.values_list("payload__prompt", flat=True):
            assert prompt[:40] in item.source["prompt"]
        intended = Annotation.objects.get(record=item, source=Source.LLM, job=job).value
        draft = item.payload["draft"]
        assert intended == {"text": draft, "draft": draft, "edited": False}
        kinds = set(Score.objects.filter(record=item).values_list("kind", flat=True))
        assert {"toxicity", "generation_quality", "near_duplicate"} <= kinds
    assert job.metrics["items"] == len(items) == job.metrics["pending"]
    assert job.metrics["labels"] == {}  # responses are no categories to count
    # Pending items never train.
    assert snapshot(project) == before

    body = client.get(f"/api/projects/{project.slug}/batches/{job.pk}/").json()
    shown_items = {i["id"]: i for i in body["items"]}
    assert set(shown_items) == {i.pk for i in items}
    assert shown_items[items[0].pk]["instruction"]["response"] == items[0].payload["draft"]
    page = client.get(f"/p/{project.slug}/batches/{job.pk}/").content.decode()
    assert "Edit the response" in page and "Approve with this response" in page

    approved, edited, rejected = items[:3]
    response = client.post(
        f"/api/projects/{project.slug}/records/{approved.pk}/review-item/", {"decision": "approve"}
    )
    assert response.status_code == 200, response.content
    # A correction keeps the record (and the model's draft); the label is the curator's text.
    empty = client.post(
        f"/api/projects/{project.slug}/records/{edited.pk}/review-item/",
        {"decision": "edit", "text": "   "},
    )
    assert empty.status_code == 400 and "text" in empty.json()
    assert Record.objects.get(pk=edited.pk).review == ReviewState.PENDING
    response = client.post(
        f"/api/projects/{project.slug}/records/{edited.pk}/review-item/",
        {"decision": "edit", "text": EDITED},
    )
    assert response.status_code == 200, response.content
    assert response.json()["id"] == edited.pk and response.json()["review"] == "approved"
    review = Annotation.objects.get(record=edited, source=Source.REVIEW)
    assert review.value == {"text": EDITED, "draft": edited.payload["draft"], "edited": True}
    assert review.author == curator
    assert Record.objects.get(pk=edited.pk).payload == edited.payload
    response = client.post(
        f"/api/projects/{project.slug}/records/{rejected.pk}/review-item/",
        {"decision": "reject", "reason": "off-topic"},
    )
    assert response.status_code == 200, response.content
    page = client.get(f"/p/{project.slug}/batches/{job.pk}/?state=").content.decode()
    assert "Trains with the curator" in page and "&lt;al dente&gt;" in page

    # Exactly the approved item and the corrected one join the human responses, the corrected
    # one with the curator's response, through the same label read as every round.
    expected = {
        **before,
        approved.pk: response_label(approved.payload["draft"]),
        edited.pk: response_label(EDITED),
    }
    assert snapshot(project) == expected
    labels = training_labels(project)
    assert labels[edited.pk][1] == EDITED and rejected.pk not in labels

    # The next SFT round freezes exactly those rows, and trains on the curator's response. (The
    # training itself is test_llm_rounds' subject: the round is cancelled once frozen.)
    round_ = start_round(api(admin_user), project, "sft")
    trained = RoundSnapshotItem.objects.filter(round=round_)
    assert dict(trained.values_list("record_id", "label")) == expected
    assert trained.get(record=edited).annotation_id == review.pk
    rows = {
        row["prompt"]: row["messages"]
        for row in (
            task_types.export_row(project.task_type, payload, value)
            for payload, value in trained.values_list("record__payload", "annotation__value")
        )
    }
    assert rows[edited.payload["prompt"]][-1] == {"role": "assistant", "content": EDITED}
    assert rows[approved.payload["prompt"]][-1]["content"] == approved.payload["draft"]
    assert rejected.payload["prompt"] not in rows
    cancel = api(admin_user).post(f"/api/projects/{project.slug}/rounds/{round_.number}/cancel/")
    assert cancel.status_code in (200, 202), cancel.content
    wait_for_job(Job.objects.get(round=round_).pk, timeout=600)


@pytest.mark.django_db
def test_correction_projects_are_offered_only_the_generators_that_work(admin_user, make_user):
    project = make_project(admin_user, "correction", [])
    client = api(admin_user)
    page = client.get(f"/p/{project.slug}/data/").content.decode()
    assert '<option value="instruction">' in page and '<option value="rewrite">' in page
    assert '<option value="adversarial">' not in page and "grounded generation" not in page
    assert 'name="labels"' not in page

    def post(params, user=admin_user):
        return api(user).post(
            f"/api/projects/{project.slug}/jobs/", {"kind": "generate", "params": params},
            content_type="application/json",
        )  # fmt: skip

    for params, field, message in (
        ({"generator": "adversarial"}, "generator", "instruction, rewrite for this project"),
        ({"generator": "grounded"}, "generator", "instruction, rewrite for this project"),
        ({"generator": "instruction", "labels": ["x"]}, "labels", "label-set projects only"),
        ({"generator": "instruction", "response_max_new_tokens": 0}, "response_max_new_tokens",
         "between 1 and"),
    ):  # fmt: skip
        response = post(params)
        # A bad value, refused before queueing, names its parameter.
        assert response.status_code == 400, (params, response.content)
        assert message in " ".join(response.json()[f"params.{field}"]), response.json()
    annotator = join(project, make_user, Role.ANNOTATOR, "annie")
    assert post({"generator": "instruction"}, annotator).status_code == 403
    assert not Job.objects.filter(project=project, kind=Job.Kind.GENERATE).exists()

    # Label-set projects keep every generator; projects without generation get no form.
    labeled = make_project(admin_user, "classification",
                           [{"value": "a", "name": "A"}, {"value": "b", "name": "B"}])  # fmt: skip
    assert '<option value="grounded">' in client.get(f"/p/{labeled.slug}/data/").content.decode()
    spans = make_project(admin_user, "span", [{"value": "PER", "name": "Person"}])
    assert "Generate a batch" not in client.get(f"/p/{spans.slug}/data/").content.decode()
