"""The curators' and admins' workspace: actions that fit the task type, jobs people watch and
stop, projects and accounts edited in the app, styled error pages, the API docs."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.staticfiles import finders
from django.test import Client, RequestFactory
from django.utils import timezone
from django.views.defaults import server_error

from annotation import task_types
from annotation.models import Annotation, Source
from curator import job_kinds, round_kinds
from curator.models import AuditEvent, Job, Membership, Project, Record, Role, Round, User
from curator.services.jobs import job_create
from curator.services.model_jobs import model_job_start
from curator.services.projects import project_create
from curator.services.rounds import round_start
from tests.conftest import PASSWORD, as_jsonl, sst2_rows, wait_for_job
from tests.test_imports import run_import
from tests.test_task_type_registry import EXAMPLES

HTMX = {"HTTP_HX_REQUEST": "true"}


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def project_of(task_type: str, admin_user: User, **settings) -> Project:
    labels = EXAMPLES[task_type][0]
    return project_create(
        name=f"{task_type} workspace", task_type=task_type, labels=labels,
        created_by=admin_user, settings={"gold_rate": 0, **settings},
    )  # fmt: skip


def running_job(project: Project, kind: str = "toxicity", **fields) -> Job:
    """A job as a worker leaves it mid-run: claimed 100 s ago, 50 of 200 items done."""
    job = job_create(project=project, kind=kind)
    values = {
        "status": Job.Status.RUNNING, "started_at": timezone.now() - timedelta(seconds=100),
        "progress_done": 50, "progress_total": 200, "stage": "scoring", **fields,
    }  # fmt: skip
    Job.objects.filter(pk=job.pk).update(**values)
    job.refresh_from_db()
    return job


# --- actions that fit the task type -----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("task_type", sorted(EXAMPLES))
def test_every_offered_action_starts_for_its_task_type(
    task_type, admin_user, django_capture_on_commit_callbacks
):
    """Nothing on the project page always refuses: each one-click job and each round kind it
    offers is accepted for this task type, and the page offers exactly those."""
    project = project_of(task_type, admin_user)
    page = logged_in(admin_user).get(f"/p/{project.slug}/").content.decode()
    offered = re.findall(r'<button name="kind" value="([a-z_]+)"', page)
    expected = [kind.name for kind in job_kinds.buttons_for(task_type)]
    assert offered == expected and "toxicity" in offered
    with django_capture_on_commit_callbacks(execute=False):  # queued; no worker needed
        for name in offered:
            job = model_job_start(project=project, kind=name, user=admin_user)
            assert job.status == Job.Status.QUEUED
        for kind in round_kinds.kinds_for(task_type):
            assert kind.name in page
    # A kind that does not fit is refused with a reason, before anything is queued.
    for kind in job_kinds.all_kinds():
        if kind.startable and not kind.fits(task_type):
            response = logged_in(admin_user).post(
                f"/api/projects/{project.slug}/jobs/", {"kind": kind.name},
                content_type="application/json",
            )  # fmt: skip
            assert response.status_code == 409, (kind.name, response.content)


@pytest.mark.django_db
def test_pairwise_projects_offer_the_judge_and_no_prelabel(admin_user):
    pairwise = project_of("pairwise", admin_user)
    classification = project_of("classification", admin_user)
    client = logged_in(admin_user)
    page = client.get(f"/p/{pairwise.slug}/").content.decode()
    assert "Run the LLM judge on every pair" in page and "Pre-label with the LLM" not in page
    assert "Start a round" in page  # DPO and reward rounds train on settled choices
    assert "auto-accepted" not in page  # no LLM labels to route in a pairwise project
    data = client.get(f"/p/{pairwise.slug}/data/").content.decode()
    assert "Find label errors" not in data  # noise needs one class per label
    page = client.get(f"/p/{classification.slug}/").content.decode()
    assert "Pre-label with the LLM" in page and "Run the LLM judge" not in page
    assert "LLM labels auto-accepted" in page
    refused = client.post(
        f"/api/projects/{classification.slug}/jobs/", {"kind": "self_reward"},
        content_type="application/json",
    )  # fmt: skip
    assert refused.status_code == 409
    assert "pairwise preference projects" in refused.json()["detail"]
    refused = client.post(
        f"/api/projects/{pairwise.slug}/jobs/", {"kind": "noise"}, content_type="application/json"
    )
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert detail == "Label-noise detection jobs do not apply to pairwise preference projects"


@pytest.mark.django_db
@pytest.mark.parametrize("task_type", sorted(EXAMPLES))
def test_import_hint_names_the_fields_and_its_example_imports(task_type, admin_user):
    project = project_of(task_type, admin_user)
    task = task_types.get(task_type)
    page = logged_in(admin_user).get(f"/p/{project.slug}/").content.decode()
    hint = page.split('class="import-hint"')[1].split("</pre>")[0]
    for field in task.payload_fields("text"):
        assert f"<code>{field}</code>" in hint
    example = task.import_example(project.labels)
    assert json.dumps(example).replace('"', "&quot;") in hint
    # The example on the form is a line that imports, labeled, into this very project.
    _, result = run_import(project, as_jsonl([example]))
    assert (result.created, result.labels) == (1, 1)


# --- jobs people watch and stop ---------------------------------------------------------------


@pytest.mark.django_db
def test_running_job_card_shows_times_rate_eta_and_a_cancel_for_those_allowed(
    project, admin_user, curator_user, annotator
):
    job = running_job(project)
    assert 99 <= job.elapsed_seconds <= 110
    assert job.throughput == pytest.approx(50 / job.elapsed_seconds)
    assert job.eta_seconds == pytest.approx(150 / job.throughput)
    card = logged_in(curator_user).get(f"/p/{project.slug}/jobs/{job.pk}/", **HTMX)
    html = card.content.decode()
    assert "started" in html and "running for" in html and "1 min 4" in html
    # 50 items in 100 s: 30 a minute, so the other 150 take about 5 minutes.
    # (a moment passes between the row and the page: 29.9 a minute, 5 min 1 s)
    assert re.search(r"(29\.\d|30\.0) items/min", html)
    assert re.search(r'<span class="eta">5 min [0-9] s</span> left', html)
    assert f"/p/{project.slug}/jobs/{job.pk}/cancel/" in html
    html = logged_in(annotator).get(f"/p/{project.slug}/jobs/{job.pk}/", **HTMX).content.decode()
    assert "running for" in html and "/cancel/" not in html
    # A queued job has no rate to tell yet.
    queued = job_create(project=project, kind="prelabel")
    html = logged_in(admin_user).get(f"/p/{project.slug}/jobs/{queued.pk}/").content.decode()
    assert "waiting for a worker" in html and " left" not in html
    # A job that ended without a worker's start (e.g. written by the demo loader) waits for none.
    Job.objects.filter(pk=queued.pk).update(status=Job.Status.SUCCEEDED)
    html = logged_in(admin_user).get(f"/p/{project.slug}/jobs/{queued.pk}/").content.decode()
    assert "waiting for a worker" not in html and "ended without" in html


@pytest.mark.django_db
def test_the_rate_counts_from_the_first_items_done_not_from_model_loading(project):
    from workers.runtime import job_progress

    job = running_job(project, progress_done=0, claimed_by="w1")
    job_progress(job, done=10)  # after 100 s spent loading the model
    first = Job.objects.get(pk=job.pk)
    first_at = timezone.now() - timedelta(seconds=20)
    Job.objects.filter(pk=job.pk).update(
        timings={**first.timings, "first_done_at": first_at.isoformat()}
    )
    job.refresh_from_db()
    job_progress(job, done=50)  # 40 more in the 20 s since: 2 a second, 75 s for the last 150
    job.refresh_from_db()
    assert job.timings["first_done"] == 10
    assert job.throughput == pytest.approx(2, rel=0.05)
    assert job.eta_seconds == pytest.approx(75, rel=0.05)
    # Over the whole claim it would read 0.5 a second and 5 minutes left.
    assert 50 / job.elapsed_seconds < 0.51


@pytest.mark.django_db
def test_cancel_from_the_card_stops_the_job_and_says_so(project, curator_user, annotator):
    job = running_job(project)
    assert logged_in(annotator).post(f"/p/{project.slug}/jobs/{job.pk}/cancel/").status_code == 403
    client = logged_in(curator_user)
    response = client.post(
        f"/p/{project.slug}/jobs/{job.pk}/cancel/", {"next": f"/p/{project.slug}/"}, follow=True
    )
    assert response.redirect_chain[-1][0] == f"/p/{project.slug}/"
    assert f"Toxicity job {job.pk} cancelled." in response.content.decode()
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED and job.finished_at is not None
    assert AuditEvent.objects.filter(action="job.cancel", target=f"job {job.pk}").exists()
    again = client.post(f"/p/{project.slug}/jobs/{job.pk}/cancel/", follow=True)
    assert "is cancelled; nothing to cancel" in again.content.decode()
    # An outside address is not followed after a cancel.
    other = running_job(project)
    response = client.post(
        f"/p/{project.slug}/jobs/{other.pk}/cancel/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == f"/p/{project.slug}/jobs/"


@pytest.mark.django_db
def test_cancelling_a_rounds_job_cancels_its_round(
    project, admin_user, curator_user, django_capture_on_commit_callbacks
):
    records = sst2_rows("train", 40)
    run_import(project, as_jsonl(records), split="train")
    with django_capture_on_commit_callbacks(execute=False):
        round_ = round_start(project=project, user=admin_user)
    job = Job.objects.get(round=round_)
    # Curators start jobs but not rounds: a round's job is not theirs to stop.
    assert (
        logged_in(curator_user).post(f"/p/{project.slug}/jobs/{job.pk}/cancel/").status_code == 403
    )
    logged_in(admin_user).post(f"/p/{project.slug}/jobs/{job.pk}/cancel/")
    round_.refresh_from_db()
    job.refresh_from_db()
    assert round_.status == Round.Status.CANCELLED and job.status == Job.Status.CANCELLED


@pytest.mark.django_db
def test_jobs_page_filters_by_kind_and_status_and_polls_for_new_jobs(project, curator_user):
    toxic = running_job(project, "toxicity")
    failed = running_job(project, "prelabel", status=Job.Status.FAILED, error="no model")
    done = running_job(project, "import", status=Job.Status.SUCCEEDED)
    client = logged_in(curator_user)
    page = client.get(f"/p/{project.slug}/jobs/").content.decode()
    assert all(f'id="job-{job.pk}"' in page for job in (toxic, failed, done))
    page = client.get(f"/p/{project.slug}/jobs/?kind=prelabel&status=failed").content.decode()
    assert f'id="job-{failed.pk}"' in page and f'id="job-{toxic.pk}"' not in page
    assert "no model" in page
    page = client.get(f"/p/{project.slug}/jobs/?status=succeeded").content.decode()
    assert f'id="job-{done.pk}"' in page and f'id="job-{failed.pk}"' not in page
    # The list polls itself (keeping its filters), so a job a worker starts shows up.
    fragment = client.get(f"/p/{project.slug}/jobs/?kind=toxicity", **HTMX).content.decode()
    assert fragment.startswith('<div id="job-list"') and 'hx-trigger="every 2s"' in fragment
    assert "kind=toxicity" in fragment
    started_by_a_worker = job_create(project=project, kind="toxicity")
    fragment = client.get(f"/p/{project.slug}/jobs/?recent=1", **HTMX).content.decode()
    assert f'id="job-{started_by_a_worker.pk}"' in fragment
    home = client.get(f"/p/{project.slug}/").content.decode()
    assert f"/p/{project.slug}/jobs/?recent=1" in home


@pytest.mark.django_db
def test_jobs_api_has_times_links_filters_and_cancel(project, curator_user):
    job = running_job(project)
    generated = running_job(project, "generate", status=Job.Status.SUCCEEDED)
    client = logged_in(curator_user)
    rows = client.get(f"/api/projects/{project.slug}/jobs/?kind=toxicity&status=running").json()
    assert [row["id"] for row in rows["results"]] == [job.pk]
    row = rows["results"][0]
    assert row["elapsed_seconds"] >= 100 and row["throughput"] > 0 and row["eta_seconds"] > 0
    links = client.get(f"/api/projects/{project.slug}/jobs/{generated.pk}/").json()["links"]
    assert {
        "label": "Review the batch",
        "url": f"/p/{project.slug}/batches/{generated.pk}/",
    } in links
    assert client.get(f"/api/projects/{project.slug}/jobs/?kind=nope").status_code == 400
    assert client.get(f"/api/projects/{project.slug}/jobs/?status=lost").status_code == 400
    stopped = client.post(f"/api/projects/{project.slug}/jobs/{job.pk}/cancel/").json()
    assert stopped["status"] == "cancelled" and stopped["eta_seconds"] is None


@pytest.mark.django_db
def test_an_import_jobs_card_links_to_its_records(project, curator_user):
    job, _ = run_import(project, as_jsonl(sst2_rows("dev", 30)))
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    client = logged_in(curator_user)
    card = client.get(f"/p/{project.slug}/jobs/{job.pk}/").content.decode()
    assert f"/p/{project.slug}/jobs/{job.pk}/records/" in card
    page = client.get(f"/p/{project.slug}/jobs/{job.pk}/records/").content.decode()
    first_ids = re.findall(r"/records/(\d+)/\">#", page)
    assert len(first_ids) == 25
    after = client.get(f"/p/{project.slug}/jobs/{job.pk}/records/?after={first_ids[-1]}")
    rest = re.findall(r"/records/(\d+)/\">#", after.content.decode())
    assert len(rest) == 5 and set(rest).isdisjoint(first_ids)
    assert set(map(int, first_ids + rest)) == set(
        Record.objects.filter(created_by_job=job).values_list("pk", flat=True)
    )


# --- editable projects ------------------------------------------------------------------------


def edit(client: Client, project: Project, **fields):
    form = {"name": project.name, "description": "", "guidelines": project.guidelines,
            "labels": "negative | Negative\npositive | Positive", **fields}  # fmt: skip
    return client.post(f"/p/{project.slug}/edit/", form)


@pytest.mark.django_db
def test_admin_edits_name_description_guidelines_and_renames_or_adds_labels(
    project, admin_user, curator_user
):
    client = logged_in(admin_user)
    form = client.get(f"/p/{project.slug}/edit/").content.decode()
    assert "negative | Negative" in form
    response = edit(
        client, project, name="Film reviews", description="<i>SST-2</i> sentences",
        guidelines="Judge the film, not the actors.",
        labels="negative | Thumbs down\npositive | Thumbs up\nmixed | Mixed",
    )  # fmt: skip
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.name == "Film reviews" and project.guidelines.startswith("Judge the film")
    assert project.labels[0] == {"value": "negative", "name": "Thumbs down"}
    assert project.label_values == ["negative", "positive", "mixed"]
    page = client.get(f"/p/{project.slug}/").content.decode()
    assert "&lt;i&gt;SST-2&lt;/i&gt; sentences" in page and "<i>SST-2" not in page
    event = AuditEvent.objects.get(action="project.update")
    assert event.details["added"] == ["mixed"] and event.details["renamed"] == [
        "negative",
        "positive",
    ]
    # Curators may not edit the project: a styled 403 page with the way back.
    refused = logged_in(curator_user).get(f"/p/{project.slug}/edit/")
    assert refused.status_code == 403 and "Your projects" in refused.content.decode()
    assert edit(client, project, name="  ").status_code == 400


@pytest.mark.django_db
def test_removing_a_label_in_use_asks_first_and_never_rewrites_labels(project, admin_user):
    run_import(project, as_jsonl(sst2_rows("dev", 20)))
    negatives = Annotation.objects.filter(project=project, value="negative").count()
    assert negatives > 0
    client = logged_in(admin_user)
    asked = edit(client, project, labels="positive | Positive\nneutral")
    html = unescape(asked.content.decode())
    assert asked.status_code == 409
    assert f"'negative' ({negatives} labels)" in html and "never rewritten" in html
    assert 'name="confirm_removal"' in html
    project.refresh_from_db()
    assert project.label_values == ["negative", "positive"]  # nothing changed yet
    confirmed = edit(client, project, labels="positive | Positive\nneutral", confirm_removal="1")
    assert confirmed.status_code == 302
    project.refresh_from_db()
    assert project.label_values == ["positive", "neutral"]
    assert Annotation.objects.filter(project=project, value="negative").count() == negatives
    # A label nobody used goes without a question.
    assert edit(client, project, labels="positive\nneutral\nnew\n").status_code == 302
    assert edit(client, project, labels="positive\nneutral").status_code == 302


@pytest.mark.django_db
def test_the_api_edits_a_project_and_asks_before_removing_a_label_in_use(
    project, admin_user, curator_user
):
    run_import(project, as_jsonl(sst2_rows("dev", 20)))
    url = f"/api/projects/{project.slug}/"
    client = logged_in(admin_user)
    renamed = client.patch(url, {"guidelines": "New rules.", "labels": [
        {"value": "negative", "name": "Bad"}, {"value": "positive", "name": "Good"}]},
        content_type="application/json")  # fmt: skip
    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["guidelines"] == "New rules." and renamed.json()["name"] == project.name
    asked = client.patch(url, {"labels": ["positive", "neutral"]}, content_type="application/json")
    negatives = Annotation.objects.filter(project=project, value="negative").count()
    assert asked.status_code == 409 and asked.json()["labels_in_use"] == {"negative": negatives}
    assert "never rewritten" in asked.json()["detail"]
    done = client.patch(url, {"labels": ["positive", "neutral"], "confirm_removal": True},
                        content_type="application/json")  # fmt: skip
    assert [label["value"] for label in done.json()["labels"]] == ["positive", "neutral"]
    bad = client.patch(url, {"labels": ["solo"]}, content_type="application/json")
    assert bad.status_code == 400 and "labels" in bad.json()
    refused = logged_in(curator_user).patch(url, {"name": "x"}, content_type="application/json")
    assert refused.status_code == 403
    project.refresh_from_db()
    assert project.name == "SST-2 sentiment"


# --- accounts and invitations -----------------------------------------------------------------


@pytest.mark.django_db
def test_staff_invite_a_user_who_sets_a_password_once(project, admin_user, make_user):
    admin_user.is_staff = True
    admin_user.save()
    staff = logged_in(admin_user)
    page = staff.post("/users/", {"username": "nora", "email": "nora@example.org",
                                  "project": project.pk, "role": "curator"})  # fmt: skip
    assert page.status_code == 200
    nora = User.objects.get(username="nora")
    assert not nora.has_usable_password()
    assert Membership.objects.get(user=nora, project=project).role == Role.CURATOR
    link = re.search(r'value="(http://testserver/invite/[^"]+)"', page.content.decode()).group(1)
    path = link.removeprefix("http://testserver")
    invitee = Client()
    assert "Welcome, nora" in invitee.get(path).content.decode()
    weak = invitee.post(path, {"new_password1": "nora", "new_password2": "nora"})
    # Django's password validators apply: too short, too like the username.
    assert weak.status_code == 400 and "too short" in unescape(weak.content.decode())
    nora.refresh_from_db()
    assert not nora.has_usable_password()
    done = invitee.post(path, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/"
    assert invitee.get(f"/p/{project.slug}/").status_code == 200  # logged in, a curator
    # The link worked once.
    used = Client().get(path)
    assert used.status_code == 404 and "no longer works" in used.content.decode()
    assert Client().login(username="nora", password=PASSWORD)
    # A taken name is refused; people who are not staff never see the page.
    again = staff.post("/users/", {"username": "NORA"})
    assert again.status_code == 400 and "exists already" in again.content.decode()
    outsider = make_user("otto")
    assert logged_in(outsider).get("/users/").status_code == 404
    assert logged_in(outsider).post("/users/", {"username": "x"}).status_code == 404
    assert not User.objects.filter(username="x").exists()


@pytest.mark.django_db
def test_a_new_link_replaces_a_lost_one(admin_user):
    admin_user.is_staff = True
    admin_user.save()
    staff = logged_in(admin_user)
    staff.post("/users/", {"username": "pia"})
    pia = User.objects.get(username="pia")
    listing = staff.get("/users/").content.decode()
    assert "invited, no password yet" in listing and f"/users/{pia.pk}/reinvite/" in listing
    response = staff.post(f"/users/{pia.pk}/reinvite/", follow=True)
    link = re.search(r"(/invite/[^\s<]+/)", response.content.decode()).group(1)
    assert Client().get(link).status_code == 200
    assert Client().get("/invite/Mg/not-a-token/").status_code == 404


# --- error pages and API docs -----------------------------------------------------------------


@pytest.mark.django_db
def test_error_pages_are_styled_with_navigation(client, admin_user, project, settings):
    settings.DEBUG = False
    browser = logged_in(admin_user)
    missing = browser.get("/p/no-such-project/")
    html = missing.content.decode()
    assert missing.status_code == 404 and "Page not found" in html
    assert 'href="/"' in html and "app.css" in html and admin_user.username in html
    api_missing = browser.get("/api/projects/no-such/")  # API clients still get JSON
    assert api_missing.status_code == 404 and "detail" in api_missing.json()
    request = RequestFactory().get("/boom/")
    crashed = server_error(request)
    html = crashed.content.decode()
    assert crashed.status_code == 500 and "Something went wrong" in html and "app.css" in html


@pytest.mark.django_db
def test_api_docs_are_served_from_local_static_files(client, admin_user):
    browser = logged_in(admin_user)
    home = browser.get("/").content.decode()
    assert 'href="/api/docs/"' in home
    html = browser.get("/api/docs/").content.decode()
    scripts = re.findall(r'src="([^"]+)"', html) + re.findall(r'href="([^"]+\.css)"', html)
    static = [src for src in scripts if src.startswith("/static/")]
    # Everything else is the page's own start-up script (no inline code under the CSP).
    assert static and all(src.startswith("/api/docs/?script") for src in set(scripts) - set(static))
    assert all(finders.find(src.removeprefix("/static/")) for src in static)
    assert "/api/schema/" in browser.get("/api/docs/?script").content.decode()
    schema = browser.get("/api/schema/?format=json").json()
    assert "/api/projects/{slug}/jobs/{job_id}/cancel/" in schema["paths"]


# --- toxicity reads every field of a pair ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_toxicity_button_on_a_pairwise_project_holds_a_toxic_response(celery_worker, admin_user):
    project = project_of("pairwise", admin_user, score_toxicity_on_import=False)
    pairs = [
        {"prompt": "How do I fix my bike?", "response_a": "Check the chain.",
         "response_b": "Shut up, you stupid idiot, go to hell you moron."},
        {"prompt": "Name a fruit.", "response_a": "An apple.", "response_b": "A pear."},
    ]  # fmt: skip
    run_import(project, as_jsonl(pairs))
    client = logged_in(admin_user)
    client.post(f"/p/{project.slug}/model-jobs/", {"kind": "toxicity"})
    job = wait_for_job(Job.objects.get(project=project, kind="toxicity").pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    held = dict(Record.objects.filter(project=project).values_list("payload__prompt", "held"))
    assert held == {"How do I fix my bike?": True, "Name a fruit.": False}
    card = client.get(f"/p/{project.slug}/jobs/{job.pk}/").content.decode()
    assert f"/p/{project.slug}/held/" in card and "took" in card
    assert Annotation.objects.filter(project=project, source=Source.HUMAN).count() == 0
