"""Refused input answers 400 naming the field at fault, mapped in one exception handler."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Comment
from curator.models import Document, Project, Record
from tests.conftest import as_jsonl, sst2_rows
from tests.test_imports import run_import


@pytest.mark.django_db
def test_refused_project_labels_name_the_labels_field_and_nothing_is_created(client, make_user):
    staff = make_user("staff", is_staff=True)
    client.force_login(staff)
    response = client.post(
        "/api/projects/",
        {"name": "Repeats", "task_type": "classification", "labels": ["a", "a"]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {"labels": ["labels must be distinct"]}
    assert not Project.objects.filter(name="Repeats").exists()


@pytest.mark.django_db
def test_an_empty_comment_is_refused_on_its_text_field(client, project, annotator):
    run_import(project, as_jsonl(sst2_rows("dev", 2)))
    record = Record.objects.filter(project=project).first()
    client.force_login(annotator)
    response = client.post(
        f"/api/projects/{project.slug}/records/{record.pk}/comments/",
        {"text": "  ", "flag": False},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {"text": ["write a comment or flag the record"]}
    assert not Comment.objects.exists()


@pytest.mark.django_db
def test_a_binary_document_is_refused_on_its_file_field(client, project, admin_user):
    client.force_login(admin_user)
    upload = SimpleUploadedFile("blob.txt", b"\x00\x01\x02", content_type="text/plain")
    response = client.post(f"/api/projects/{project.slug}/documents/", {"file": upload})
    assert response.status_code == 400
    assert response.json() == {"file": ["blob.txt is binary; upload text, Markdown or PDF"]}
    assert not Document.objects.exists()
