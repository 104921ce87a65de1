import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from curator.models import Role, Round
from tests.conftest import as_jsonl, sst2_rows
from tests.test_imports import run_import


@pytest.fixture
def labeled(project):
    run_import(project, as_jsonl(sst2_rows("dev", 40)), split="train")
    return project


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/p/{slug}/rounds/", "/api/projects/{slug}/rounds/"])
def test_annotator_cannot_start_a_round(client, labeled, annotator, url):
    client.force_login(annotator)
    response = client.post(url.format(slug=labeled.slug))
    assert response.status_code == 403
    assert not Round.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/p/{slug}/import/", "/api/projects/{slug}/imports/"])
def test_annotator_cannot_import(client, project, annotator, url):
    client.force_login(annotator)
    upload = SimpleUploadedFile("x.jsonl", b'{"text": "hello"}\n')
    response = client.post(url.format(slug=project.slug), {"file": upload})
    assert response.status_code == 403
    assert project.records.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/p/{slug}/",
        "/p/{slug}/annotate/",
        "/p/{slug}/annotate/next/",
        "/api/projects/{slug}/",
        "/api/projects/{slug}/records/",
        "/api/projects/{slug}/rounds/",
        "/api/projects/{slug}/annotations/",
    ],
)
def test_outsider_cannot_see_another_project(client, project, make_user, url):
    outsider = make_user("mallory")
    client.force_login(outsider)
    assert client.get(url.format(slug=project.slug)).status_code == 404


@pytest.mark.django_db
def test_outsider_does_not_see_the_project_in_lists(client, project, make_user):
    client.force_login(make_user("mallory"))
    assert project.name.encode() not in client.get("/").content
    assert client.get("/api/projects/").json()["results"] == []


@pytest.mark.django_db
def test_anonymous_is_sent_to_login_and_refused_by_the_api(client, project):
    response = client.get(f"/p/{project.slug}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.get(f"/api/projects/{project.slug}/").status_code in (401, 403)


@pytest.mark.django_db
def test_annotator_sees_only_own_annotations_in_the_api(client, project, member):
    from annotation.services.annotations import annotation_submit
    from annotation.services.assignment import next_assignment

    run_import(project, as_jsonl(sst2_rows("dev", 10), drop=("label",)))
    alice, bob = member(Role.ANNOTATOR, "alice"), member(Role.ANNOTATOR, "bob")
    annotation_submit(assignment=next_assignment(project, alice), user=alice, value="positive")
    mine = annotation_submit(assignment=next_assignment(project, bob), user=bob, value="negative")
    client.force_login(bob)
    results = client.get(f"/api/projects/{project.slug}/annotations/").json()["results"]
    assert [row["id"] for row in results] == [mine.pk]


@pytest.mark.django_db
def test_annotator_cannot_submit_to_someone_elses_assignment(client, project, member):
    from annotation.services.assignment import next_assignment

    run_import(project, as_jsonl(sst2_rows("dev", 10), drop=("label",)))
    alice, bob = member(Role.ANNOTATOR, "alice"), member(Role.ANNOTATOR, "bob")
    theirs = next_assignment(project, alice)
    client.force_login(bob)
    response = client.post(
        f"/api/projects/{project.slug}/assignments/{theirs.pk}/submit/", {"label": "positive"}
    )
    assert response.status_code == 404
    assert project.annotations.filter(source="human").count() == 0


@pytest.mark.django_db
def test_annotator_cannot_see_or_clear_held_records(client, project, annotator):
    run_import(project, as_jsonl(sst2_rows("dev", 3), drop=("label",)))
    record = project.records.first()
    project.records.filter(pk=record.pk).update(held=True, held_reason="toxicity 0.99")
    client.force_login(annotator)
    assert client.get(f"/p/{project.slug}/held/").status_code == 403
    assert client.post(f"/p/{project.slug}/held/{record.pk}/clear/").status_code == 403
    assert (
        client.post(f"/api/projects/{project.slug}/records/{record.pk}/clear-hold/").status_code
        == 403
    )
    record.refresh_from_db()
    assert record.held
