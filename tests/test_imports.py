import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from annotation.models import Annotation, Source
from curator.hashing import content_hash
from curator.importing.parsers import ImportFormatError
from curator.models import Job, Record, Score, Split
from curator.services.imports import import_bytes
from curator.services.jobs import job_create
from tests.conftest import as_csv, as_jsonl, sst2_rows, wait_for_job


def run_import(project, data: bytes, fmt: str = "jsonl", split: str = Split.POOL):
    job = job_create(project=project, kind=Job.Kind.IMPORT)
    return job, import_bytes(
        project=project, data=io.BytesIO(data), file_format=fmt, split=split, job=job,
        filename=f"upload.{fmt}",
    )  # fmt: skip


@pytest.mark.django_db
def test_sst2_import_creates_records_with_lineage_and_labels(project):
    rows = sst2_rows("dev", limit=300)
    job, result = run_import(project, as_jsonl(rows), split=Split.GOLD)
    assert (result.rows, result.created, result.labels) == (300, 300, 300)
    first = Record.objects.get(
        project=project, content_hash=content_hash({"text": rows[0]["text"]})
    )
    assert first.created_by_job == job
    assert first.source == {"file": "upload.jsonl", "line": 1}
    assert first.split == Split.GOLD
    assert first.payload == {"text": rows[0]["text"]}
    label = Annotation.objects.get(record=first)
    assert (label.value, label.source, label.job_id) == (rows[0]["label"], Source.IMPORT, job.pk)


@pytest.mark.django_db
def test_exact_duplicates_are_skipped_within_a_file_and_across_imports(project):
    rows = sst2_rows("dev", limit=50)
    _, first = run_import(project, as_jsonl(rows + rows[:10]))
    assert (first.rows, first.created, first.duplicates) == (60, 50, 10)
    _, second = run_import(project, as_csv([{"text": r["text"]} for r in rows[:20]]), fmt="csv")
    assert (second.rows, second.created, second.duplicates) == (20, 0, 20)
    assert Record.objects.filter(project=project).count() == 50


@pytest.mark.django_db
def test_malformed_file_keeps_nothing_of_the_upload(project):
    good = as_jsonl(sst2_rows("dev", limit=100))
    broken = good + b'{"text": "unterminated\n' + as_jsonl(sst2_rows("dev", limit=5))
    with pytest.raises(ImportFormatError) as error:
        run_import(project, broken)
    assert error.value.line == 101
    assert Record.objects.filter(project=project).count() == 0
    assert Annotation.objects.filter(project=project).count() == 0


@pytest.mark.django_db(transaction=True)
def test_api_import_runs_on_the_worker(celery_worker, client, project, curator_user):
    client.force_login(curator_user)
    upload = SimpleUploadedFile("sst2.csv", as_csv(sst2_rows("dev", limit=120)))
    response = client.post(
        f"/api/projects/{project.slug}/imports/", {"file": upload, "split": "pool"}
    )
    assert response.status_code == 202, response.content
    job = wait_for_job(response.json()["id"])
    assert job.status == Job.Status.SUCCEEDED, job.error
    toxicity_job = job.metrics.pop("toxicity_job")
    assert job.metrics == {"rows": 120, "created": 120, "duplicates": 0, "labels": 120}
    assert Record.objects.filter(project=project, created_by_job=job).count() == 120
    # Every imported record is scored for toxicity by the follow-up job.
    toxicity = wait_for_job(toxicity_job)
    assert toxicity.status == Job.Status.SUCCEEDED, toxicity.error
    assert Score.objects.filter(record__project=project, kind="toxicity").count() == 120
    detail = client.get(f"/api/projects/{project.slug}/jobs/{job.pk}/").json()
    assert detail["status"] == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_malformed_upload_fails_its_job_with_the_line_and_keeps_nothing(
    celery_worker, client, project, curator_user
):
    client.force_login(curator_user)
    data = as_jsonl(sst2_rows("dev", limit=30)) + b'{"text": "x", "label": "neutral"}\n'
    upload = SimpleUploadedFile("bad.jsonl", data)
    response = client.post(f"/api/projects/{project.slug}/imports/", {"file": upload})
    job = wait_for_job(response.json()["id"])
    assert job.status == Job.Status.FAILED
    assert job.error.startswith("line 31: label 'neutral' is not one of: negative, positive")
    assert Record.objects.filter(project=project).count() == 0
    page = client.get(f"/p/{project.slug}/")
    assert b"line 31: label &#x27;neutral&#x27; is not one of" in page.content


@pytest.mark.django_db
def test_empty_upload_is_refused_before_any_job(client, project, curator_user):
    client.force_login(curator_user)
    upload = SimpleUploadedFile("empty.jsonl", b"")
    response = client.post(f"/api/projects/{project.slug}/imports/", {"file": upload})
    assert response.status_code == 400
    assert response.json() == {"file": ["The submitted file is empty."]}
    assert not Job.objects.filter(project=project).exists()


@pytest.mark.django_db(transaction=True)
def test_cancelled_import_keeps_nothing(project, monkeypatch):
    from curator.services import imports
    from curator.services.jobs import JobCancelled

    monkeypatch.setattr(imports, "CANCEL_CHECK_EVERY", 50)
    job = job_create(project=project, kind=Job.Kind.IMPORT)
    rows = sst2_rows("train", 400)

    def cancel_midway():  # the user presses cancel while row 120 streams in
        for i, line in enumerate(as_jsonl(rows).splitlines(keepends=True)):
            if i == 120:
                Job.objects.filter(pk=job.pk).update(status=Job.Status.CANCELLED)
            yield line

    with pytest.raises(JobCancelled):
        import_bytes(project=project, data=cancel_midway(), file_format="jsonl", split="pool",
                     job=job, filename="big.jsonl")  # fmt: skip
    assert Record.objects.filter(project=project).count() == 0
    assert Annotation.objects.filter(project=project).count() == 0


def _last_analyze():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = %s",
            [Record._meta.db_table],
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_an_import_that_grows_the_records_leaves_fresh_planner_statistics(project):
    """The queue's plans must not wait for autovacuum to learn that a project grew."""
    before = _last_analyze()
    run_import(project, as_jsonl(sst2_rows("dev", 300)))
    after = _last_analyze()
    assert after is not None and after != before
