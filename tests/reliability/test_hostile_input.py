"""Hostile input: markup in every user-controlled field is shown as text on every page."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Annotation
from annotation.services.annotations import annotation_submit, comment_add
from annotation.services.assignment import next_assignment
from curator.models import Job, Membership, Project, Record, Role
from curator.services.projects import project_create
from tests.conftest import as_jsonl
from tests.test_imports import run_import

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg/onload=alert(1)>",
    "javascript:alert(1)",
    "{{ 7*7 }}{% now 'Y' %}",
    "</textarea><iframe src=//evil>",
    "' onmouseover='alert(1)",
]
DANGEROUS = [b"<script>alert", b"<img src=x", b"<svg/onload", b"<iframe", b"onmouseover='alert"]


@pytest.fixture
def hostile(admin_user, member):
    project = project_create(
        name=PAYLOADS[1],
        labels=[{"value": "neg", "name": PAYLOADS[0]}, {"value": "pos", "name": PAYLOADS[2]}],
        guidelines="\n".join(PAYLOADS),
        created_by=admin_user,
    )
    rows = [{"text": f"{payload} record {i}"} for i, payload in enumerate(PAYLOADS)]
    rows.append({"text": "labeled", "label": "neg"})
    run_import(project, as_jsonl(rows), split="pool")
    seeds = [
        {"text": PAYLOADS[3] + " gold", "label": "pos"},
        {"text": PAYLOADS[4] + " gold", "label": "neg"},
    ]
    run_import(project, as_jsonl(seeds), split="train")
    annotator = member(Role.ANNOTATOR, "eve")
    Membership.objects.create(user=annotator, project=project, role=Role.ANNOTATOR)
    Record.objects.filter(project=project).update(held=True, held_reason=PAYLOADS[5])
    Job.objects.create(project=project, kind=Job.Kind.IMPORT, status=Job.Status.FAILED,
                       error=PAYLOADS[6], params={"filename": PAYLOADS[0]})  # fmt: skip
    return project, annotator


def assert_escaped(content: bytes, where: str) -> None:
    for marker in DANGEROUS:
        assert marker not in content, f"{marker!r} unescaped on {where}"


@pytest.mark.django_db
def test_every_page_escapes_user_text(client, hostile, admin_user, make_user):
    project, annotator = hostile
    Record.objects.filter(project=project).update(held=False)
    client.force_login(annotator)
    card = client.get(f"/p/{project.slug}/annotate/next/", HTTP_HX_REQUEST="true")
    assert card.status_code == 200
    assert_escaped(card.content, "the labeling card")
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in card.content  # the label name, as text
    assignment = next_assignment(project, annotator)
    annotation_submit(assignment=assignment, user=annotator, value="neg")
    comment_add(record=assignment.record, user=annotator, text=PAYLOADS[0], flag=True)
    for url in (f"/p/{project.slug}/annotate/history/", f"/p/{project.slug}/annotate/undo/"):
        response = client.get(url, HTTP_HX_REQUEST="true")
        assert response.status_code == 200, url
        assert_escaped(response.content, url)
    # A second annotator disagrees, so the record is listed for review with both labels.
    project.settings = {**project.settings, "overlap": 2}
    project.save()
    other = make_user("mallory")
    Membership.objects.create(user=other, project=project, role=Role.ANNOTATOR)
    Annotation.objects.create(
        record=assignment.record, project=project, value="pos", source="human", author=other
    )

    Record.objects.filter(project=project).update(held=True, held_reason=PAYLOADS[5])
    client.force_login(admin_user)
    pages = [
        "/",
        f"/p/{project.slug}/",
        f"/p/{project.slug}/annotate/",
        f"/p/{project.slug}/held/",
        f"/p/{project.slug}/review/",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_escaped(response.content, url)
    # The template syntax in guidelines is shown, not evaluated.
    assert b"{{ 7*7 }}" in client.get(f"/p/{project.slug}/").content


@pytest.mark.django_db
def test_round_page_escapes_snapshot_text(
    client, hostile, admin_user, django_capture_on_commit_callbacks
):
    project, _ = hostile
    Record.objects.filter(project=project).update(held=False)
    from curator.services.rounds import round_start

    with django_capture_on_commit_callbacks(execute=False):
        round_ = round_start(project=project, user=admin_user)
    client.force_login(admin_user)
    response = client.get(f"/p/{project.slug}/rounds/{round_.number}/")
    assert response.status_code == 200
    assert_escaped(response.content, "the round page")
    assert b"javascript:alert(1) gold" in response.content  # shown as text


@pytest.mark.django_db
def test_upload_over_the_size_limit_is_refused_and_nothing_kept(
    client, project, curator_user, settings
):
    settings.CURATOR_MAX_UPLOAD_BYTES = 1000
    imports = settings.MEDIA_ROOT / "imports"
    before = set(imports.iterdir()) if imports.exists() else set()
    client.force_login(curator_user)
    upload = SimpleUploadedFile("big.jsonl", b'{"text": "x"}\n' * 200)
    response = client.post(f"/api/projects/{project.slug}/imports/", {"file": upload})
    assert response.status_code == 400
    # Refused while the body streams in (curator/views/uploads.py), before the view runs.
    assert "larger than the limit of 1000 bytes" in response.json()["detail"]
    assert not Job.objects.filter(project=project).exists()
    assert (set(imports.iterdir()) if imports.exists() else set()) == before


@pytest.mark.django_db
def test_truncated_and_huge_line_uploads_fail_cleanly(project):
    from curator.importing.parsers import MAX_LINE_BYTES, ImportFormatError
    from tests.test_imports import run_import as import_now

    with pytest.raises(ImportFormatError, match="line 2: invalid JSON"):
        import_now(project, b'{"text": "ok"}\n{"text": "cut off in the mid')
    with pytest.raises(ImportFormatError, match=f"line 1: line is longer than {MAX_LINE_BYTES}"):
        import_now(project, b'{"text": "' + b"a" * (MAX_LINE_BYTES + 10) + b'"}\n')
    assert Project.objects.get(pk=project.pk).records.count() == 0


@pytest.mark.django_db
def test_csv_export_neutralises_formulas_and_keeps_the_text(client, project, curator_user):
    import csv
    import io
    import zipfile

    from curator.exporting import neutralise

    rows = [
        {"text": '=HYPERLINK("http://evil","click")', "label": "negative"},
        {"text": "+1+1", "label": "positive"},
        {"text": "@SUM(A1)", "label": "negative"},
        {"text": "-2+3", "label": "positive"},
        {"text": 'plain, with "quotes" and\nnewline', "label": "negative"},
    ]
    run_import(project, as_jsonl(rows), split="train")
    client.force_login(curator_user)
    response = client.get(f"/p/{project.slug}/export/?output=csv&shape=full")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    parsed = list(csv.DictReader(io.StringIO(archive.read("data.csv").decode())))
    assert [r["text"] for r in parsed] == [neutralise(r["text"]) for r in rows]
    assert parsed[0]["text"] == '\'=HYPERLINK("http://evil","click")'
    assert parsed[4]["text"] == 'plain, with "quotes" and\nnewline'
    assert [r["label"] for r in parsed] == [r["label"] for r in rows]
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in parsed for cell in r.values())


HOSTILE_TASKS = {
    "pairwise": ([], {"prompt": PAYLOADS[0], "response_a": PAYLOADS[1], "response_b": PAYLOADS[5]}),
    "correction": ([], {"prompt": PAYLOADS[2], "draft": PAYLOADS[5] + PAYLOADS[0]}),
    "span": ([PAYLOADS[0], "B"], {"text": PAYLOADS[1] + " and " + PAYLOADS[6]}),
    "multilabel": ([PAYLOADS[2], "B"], {"text": PAYLOADS[0]}),
    "rating": ([{"value": "1", "name": PAYLOADS[0]}, {"value": "2", "name": "ok"}],
               {"text": PAYLOADS[5]}),
}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("task_type", sorted(HOSTILE_TASKS))
def test_every_task_card_escapes_user_text(client, admin_user, task_type):
    labels, payload = HOSTILE_TASKS[task_type]
    project = project_create(
        name=f"hostile {task_type}", task_type=task_type, labels=labels, created_by=admin_user
    )
    run_import(project, as_jsonl([payload]))
    client.force_login(admin_user)
    card = client.get(f"/p/{project.slug}/annotate/next/", HTTP_HX_REQUEST="true")
    assert card.status_code == 200 and b"record-text" in card.content
    assert_escaped(card.content, f"the {task_type} card")


@pytest.mark.django_db
def test_curation_pages_escape_user_text(client, hostile, admin_user):
    from curator.models import FilterDecision, LineageEdge

    project, _ = hostile
    seed = Record.objects.filter(project=project).first()
    batch = Job.objects.create(project=project, kind=Job.Kind.GENERATE,
                               params={"generator": PAYLOADS[0], "llm": PAYLOADS[1]})  # fmt: skip
    item = Record.objects.create(
        project=project, payload={"text": PAYLOADS[2]}, content_hash="h" * 64, review="pending",
        created_by_job=batch, review_note=PAYLOADS[6],
    )  # fmt: skip
    LineageEdge.objects.create(parent=seed, child=item, operation="instruction", job=batch)
    Annotation.objects.create(record=item, project=project, value=PAYLOADS[5], source="llm",
                              job=batch)  # fmt: skip
    run = Job.objects.create(
        project=project,
        kind=Job.Kind.FILTER,
        status=Job.Status.SUCCEEDED,
        metrics={"removed": {PAYLOADS[0]: 1}, "filters": PAYLOADS[1]},
    )
    FilterDecision.objects.create(job=run, record=seed, filter=PAYLOADS[3], reason=PAYLOADS[4])
    client.force_login(admin_user)
    for url in (
        f"/p/{project.slug}/data/",
        f"/p/{project.slug}/batches/{batch.pk}/",
        f"/p/{project.slug}/batches/{batch.pk}/?state=",
        f"/p/{project.slug}/filters/{run.pk}/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_escaped(response.content, url)


def llm_round_with_results(project, admin_user, capture):
    """An SFT round as its job leaves it: the evaluation table with model outputs (text a
    model wrote from hostile prompts) and a candidate version."""
    from curator.models import ModelVersion
    from curator.services.rounds import round_start

    with capture(execute=False):
        round_ = round_start(project=project, user=admin_user, kind="sft")
    win = {"wins": 1, "ties": 1, "losses": 0, "judged": 2, "win_rate": 0.75, "ci_low": 0.3,
           "ci_high": 0.95, "position_bias_rate": 0.5}  # fmt: skip
    round_.status = "succeeded"
    round_.metrics = {
        "kind": "sft",
        "training": {"steps": 2, "rows": 2, "seconds": 1.5, "tokens_per_second": 100.0,
                     "loss_curve": [{"step": 1, "loss": 2.0, "learning_rate": 1e-3},
                                    {"step": 2, "loss": 1.5, "learning_rate": 1e-3}]},
        "evaluation": {
            "baseline": "base", "gold_size": 2,
            "rows": [{"variant": "base", "mean_loglik": -2.5, "rouge_l": 0.1, "win_rate": None},
                     {"variant": "candidate", "mean_loglik": -2.0, "rouge_l": 0.2,
                      "win_rate": win}],
            "samples": [{"prompt": PAYLOADS[2], "reference": PAYLOADS[0],
                         "base": PAYLOADS[1], "candidate": PAYLOADS[6]}],
        },
        "model_version": 1,
    }  # fmt: skip
    round_.save()
    ModelVersion.objects.create(
        project=project, number=1, kind="sft", role="llm", base_model=PAYLOADS[1],
        adapter_path="models/x", adapter_sha256="0" * 64, round=round_,
    )  # fmt: skip
    return round_


@pytest.mark.django_db
def test_llm_round_page_escapes_prompts_responses_and_model_outputs(
    client, admin_user, django_capture_on_commit_callbacks
):
    project = project_create(
        name=PAYLOADS[0], task_type="correction", labels=[], created_by=admin_user
    )
    rows = [
        {"prompt": f"{payload} {i}", "draft": "", "label": {"text": PAYLOADS[(i + 1) % 7]}}
        for i, payload in enumerate(PAYLOADS)
    ]
    run_import(project, as_jsonl(rows), split="train")
    round_ = llm_round_with_results(project, admin_user, django_capture_on_commit_callbacks)
    client.force_login(admin_user)
    for url in (
        f"/p/{project.slug}/rounds/{round_.number}/",
        f"/p/{project.slug}/rounds/{round_.number}/?fragment=status",
    ):
        response = client.get(url, HTTP_HX_REQUEST="true")
        assert response.status_code == 200, url
        assert_escaped(response.content, url)
        assert b"&lt;svg/onload=alert(1)&gt;" in response.content  # a sample's prompt, as text
        assert b"Promote v1" in response.content
