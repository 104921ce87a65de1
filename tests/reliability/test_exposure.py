"""What each role may see (issue 15, findings 2, 8 and 12): annotators cannot tell gold checks
and spot checks from other records, cannot read the labels other people gave, and see a failed
job's message without its traceback; nobody sees where an upload lies on the server."""

import re

import pytest
from django.test import Client
from django.utils.html import escape

from annotation.models import Annotation, Source
from annotation.services.annotations import annotation_submit
from annotation.services.assignment import next_assignment
from curator.models import Job, Record, Role, Round, RoundSnapshotItem, RoutingDecision, Split
from tests.conftest import as_jsonl, sst2_rows
from tests.test_imports import run_import


@pytest.fixture
def people(project, member, admin_user):
    return {
        "annotator": member(Role.ANNOTATOR, "annie"),
        "other": member(Role.ANNOTATOR, "otto"),
        "curator": member(Role.CURATOR, "cora"),
        "admin": admin_user,
    }


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _blind_world(project):
    """One gold record, one spot check (its LLM label auto-accepted yet shown to people) and one
    ordinary pool record; records are handed out gold first, then spot check, then pool."""
    run_import(project, as_jsonl(sst2_rows("dev", 1)), split=Split.GOLD)
    run_import(project, as_jsonl(sst2_rows("dev", 3)[1:], drop=("label",)))
    gold = Record.objects.get(project=project, split=Split.GOLD)
    spot, pool = Record.objects.filter(project=project, split=Split.POOL).order_by("id")
    job = Job.objects.create(project=project, kind=Job.Kind.PRELABEL, status=Job.Status.SUCCEEDED)
    label = Annotation.objects.create(
        record=spot, project=project, value="positive", source=Source.LLM, job=job, confidence=0.95
    )
    RoutingDecision.objects.create(
        record=spot, job=job, annotation=label, decision="spot_check", label="positive",
        confidence=0.95, threshold=0.9,
    )  # fmt: skip
    Record.objects.filter(pk=spot.pk).update(route="spot_check", priority=10000)
    return gold, spot, pool


def _comparable(html: str, record: Record) -> str:
    """A labeling card with what differs between any two records taken out: the record's and
    the assignment's ids, the text, the per-render CSRF token and the annotator's tally."""
    html = re.sub(r'<p class="muted progress">.*?</p>', "", html, flags=re.DOTALL)
    html = html.replace(escape(record.payload["text"]), "TEXT")
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    html = re.sub(r"/annotate/\d+/", "/annotate/ASSIGNMENT/", html)
    return html.replace(f"Record {record.pk} ", "Record ID ")


@pytest.mark.django_db
def test_annotators_cannot_tell_gold_or_spot_checks_from_other_records(
    project, people, member, monkeypatch
):
    gold, spot, pool = _blind_world(project)
    project.settings.update(gold_rate=0.5, overlap=2)  # both annotators get every record
    project.save(update_fields=["settings"])
    monkeypatch.setattr("annotation.services.assignment.random.random", lambda: 0.0)
    annie = client_of(people["annotator"])

    # The API's assignment: the same fields for each, nothing that names a split or a route.
    handed = []
    for expected in (gold, spot, pool):
        response = annie.post(f"/api/projects/{project.slug}/next/")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["record"]["id"] == expected.pk
        assert set(body["record"]) == {"id", "payload"}
        assert body["suggestion"] is None  # gold and spot checks are blind, as is this pool row
        text = response.content.decode().replace(expected.payload["text"], "")
        assert not re.search(r"gold|spot|route|split", text), text
        handed.append(body)
        annie.post(
            f"/api/projects/{project.slug}/assignments/{body['id']}/submit/",
            {"value": "positive"}, content_type="application/json",
        )  # fmt: skip
    assert [sorted(h) for h in handed] == [sorted(handed[0])] * 3

    # The labeling page's card: byte for byte the same once id, text and token are taken out.
    monkeypatch.setattr("annotation.services.assignment.random.random", lambda: 0.0)
    otto = client_of(people["other"])
    cards = []
    for record in (gold, spot, pool):
        html = otto.get(f"/p/{project.slug}/annotate/next/").content.decode()
        assert escape(record.payload["text"]) in html
        cards.append(_comparable(html, record))
        assignment = next_assignment(project, people["other"])
        annotation_submit(assignment=assignment, user=people["other"], value="negative")
    assert cards[0] == cards[1] == cards[2]
    assert not re.search(r"gold|spot.check", cards[0], re.IGNORECASE)

    # The record list: an annotator lists the records they were handed, in the same two
    # fields, and may not filter by split (which would sort their gold checks out).
    response = annie.get(f"/api/projects/{project.slug}/records/?split=gold")
    assert response.status_code == 403
    assert gold.payload["text"] not in response.content.decode()
    assert annie.get(f"/api/projects/{project.slug}/records/?held=true").status_code == 403
    listed = annie.get(f"/api/projects/{project.slug}/records/").json()["results"]
    assert sorted(r["id"] for r in listed) == sorted([gold.pk, spot.pk, pool.pk])
    assert all(set(r) == {"id", "payload"} for r in listed)
    # Someone handed nothing lists nothing: no gold payload from the list.
    newcomer = client_of(member(Role.ANNOTATOR, "nina"))
    assert newcomer.get(f"/api/projects/{project.slug}/records/").json()["results"] == []

    # Curators see everything, filters included.
    cora = client_of(people["curator"])
    listed = cora.get(f"/api/projects/{project.slug}/records/?split=gold").json()["results"]
    assert [(r["id"], r["split"]) for r in listed] == [(gold.pk, "gold")]
    routes = {r["id"]: r["route"] for r in
              cora.get(f"/api/projects/{project.slug}/records/").json()["results"]}  # fmt: skip
    assert routes[spot.pk] == "spot_check"


@pytest.mark.django_db
def test_spot_check_figures_are_not_live_feedback_to_annotators(project, people):
    """The project page's spot-check count moves the moment a spot check is labeled: an
    annotator reading it would learn what they had just labeled."""
    _blind_world(project)
    page = client_of(people["annotator"]).get(f"/p/{project.slug}/").content.decode()
    assert "spot checks labeled by people" not in page
    page = client_of(people["curator"]).get(f"/p/{project.slug}/").content.decode()
    assert "spot checks labeled by people" in page


def _two_rounds_of_labels(project, people):
    """Round 1 trained on otto's label of a record; round 2 on a changed one."""
    run_import(project, as_jsonl(sst2_rows("dev", 2), drop=("label",)))
    first, second = Record.objects.filter(project=project).order_by("id")
    otto = people["other"]
    labels = [
        Annotation.objects.create(record=r, project=project, value=v, source=Source.HUMAN,
                                  author=otto)
        for r, v in ((first, "negative"), (second, "positive"))
    ]  # fmt: skip
    changed = Annotation.objects.create(
        record=first,
        project=project,
        value="positive",
        source=Source.HUMAN,
        author=otto,
        supersedes=labels[0],
    )
    one = Round.objects.create(project=project, number=1, status=Round.Status.SUCCEEDED)
    two = Round.objects.create(project=project, number=2, status=Round.Status.SUCCEEDED)
    RoundSnapshotItem.objects.create(
        round=one, record=first, annotation=labels[0], label="negative"
    )
    RoundSnapshotItem.objects.create(round=two, record=first, annotation=changed, label="positive")
    RoundSnapshotItem.objects.create(round=two, record=second, annotation=labels[1],
                                     label="positive")  # fmt: skip
    return first, second


@pytest.mark.django_db
def test_annotators_cannot_read_other_peoples_labels(project, people):
    first, second = _two_rounds_of_labels(project, people)
    annie = client_of(people["annotator"])
    slug = project.slug
    for path in (
        f"/api/projects/{slug}/rounds/2/snapshot/",
        f"/api/projects/{slug}/rounds/1/diff/2/",
        f"/p/{slug}/rounds/1/diff/2/",
        f"/p/{slug}/records/{first.pk}/",
        f"/api/projects/{slug}/records/{first.pk}/lineage/",
        f"/api/projects/{slug}/disagreements/",
        f"/api/projects/{slug}/export/",
    ):
        assert annie.get(path).status_code == 403, path
    # The round page still shows the round, not the labels it trained on.
    page = annie.get(f"/p/{slug}/rounds/2/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Round 2" in html
    assert escape(first.payload["text"]) not in html and escape(second.payload["text"]) not in html
    assert 'class="chip">positive' not in html
    assert f"/p/{slug}/rounds/1/diff/2/" not in annie.get(f"/p/{slug}/").content.decode()
    # The annotations list holds the caller's own labels only (none here).
    assert annie.get(f"/api/projects/{slug}/annotations/").json()["results"] == []

    # Curators and admins read them all.
    for user in (people["curator"], people["admin"]):
        client = client_of(user)
        items = client.get(f"/api/projects/{slug}/rounds/2/snapshot/").json()["results"]
        assert {(i["record"], i["label"]) for i in items} == {
            (first.pk, "positive"),
            (second.pk, "positive"),
        }
        diff = client.get(f"/api/projects/{slug}/rounds/1/diff/2/").json()
        assert diff["relabeled"] == [
            {"record_id": first.pk, "before": "negative", "after": "positive"}
        ]
        page = client.get(f"/p/{slug}/rounds/2/").content.decode()
        assert escape(first.payload["text"]) in page
        assert client.get(f"/p/{slug}/rounds/1/diff/2/").status_code == 200


@pytest.mark.django_db
def test_llm_evaluation_samples_of_gold_are_for_curators(project, people):
    """An LLM round's evaluation samples quote gold prompts and people's reference answers."""
    sample = {"prompt": "GOLD PROMPT 7731", "reference": "GOLD ANSWER 7731", "base": "meh"}
    metrics = {"kind": "sft", "evaluation": {"baseline": "base", "gold_size": 1, "rows": [],
                                             "samples": [sample]}}  # fmt: skip
    Round.objects.create(project=project, number=1, kind="sft", status="succeeded",
                         metrics=metrics)  # fmt: skip
    annie = client_of(people["annotator"])
    for path in (
        f"/api/projects/{project.slug}/rounds/1/",
        f"/api/projects/{project.slug}/rounds/",
    ):
        body = annie.get(path).content.decode()
        assert "GOLD PROMPT 7731" not in body and "GOLD ANSWER 7731" not in body, path
    assert "GOLD ANSWER" not in annie.get(f"/p/{project.slug}/rounds/1/").content.decode()
    cora = client_of(people["curator"])
    body = cora.get(f"/api/projects/{project.slug}/rounds/1/").json()
    assert body["metrics"]["evaluation"]["samples"] == [sample]


TRACEBACK = (
    "could not read /srv/curator/media/imports/4f1c2a.upload: bad bytes\n\n"
    "Traceback (most recent call last):\n"
    '  File "/opt/venv/lib/python3.12/site-packages/workers/jobs/imports.py", line 41, in run\n'
    "    rows = parse(stream)\n"
    "ValueError: bad bytes\n"
)


@pytest.mark.django_db
def test_failed_job_tracebacks_are_for_admins_only(project, people):
    job = Job.objects.create(
        project=project, kind=Job.Kind.TOXICITY, status=Job.Status.FAILED, error=TRACEBACK
    )
    slug = project.slug
    for user in (people["annotator"], people["curator"]):
        client = client_of(user)
        shown = client.get(f"/api/projects/{slug}/jobs/{job.pk}/").json()["error"]
        assert shown == "could not read …/4f1c2a.upload: bad bytes", shown
        listed = client.get(f"/api/projects/{slug}/jobs/").json()["results"][0]["error"]
        assert listed == shown
        for path in (f"/p/{slug}/jobs/{job.pk}/", f"/p/{slug}/"):
            html = client.get(path).content.decode()
            assert "could not read …/4f1c2a.upload: bad bytes" in html, path
            assert "Traceback" not in html and "/srv/" not in html and "/opt/" not in html, path
    admin = client_of(people["admin"])
    assert admin.get(f"/api/projects/{slug}/jobs/{job.pk}/").json()["error"] == TRACEBACK
    assert (
        "Traceback (most recent call last)"
        in admin.get(f"/p/{slug}/jobs/{job.pk}/").content.decode()
    )


@pytest.mark.django_db
def test_import_jobs_never_show_the_server_side_upload_path(project, people, settings):
    cora = client_of(people["curator"])
    upload = as_jsonl(sst2_rows("dev", 3))
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = cora.post(
        f"/api/projects/{project.slug}/imports/",
        {"file": SimpleUploadedFile("reviews.jsonl", upload), "split": "pool"},
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    stored = job.params["path"]  # the worker still finds the upload by it
    for user in (people["annotator"], people["curator"], people["admin"]):
        client = client_of(user)
        for path in (
            f"/api/projects/{project.slug}/jobs/{job.pk}/",
            f"/api/projects/{project.slug}/jobs/",
            f"/p/{project.slug}/jobs/{job.pk}/",
            f"/p/{project.slug}/",
        ):
            body = client.get(path).content.decode()
            assert stored not in body and str(settings.MEDIA_ROOT) not in body, (user, path)
            assert "reviews.jsonl" in body, (user, path)
    assert "path" not in response.json()["params"]
