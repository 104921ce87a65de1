"""The admins' and curators' workspace in Chromium: a job watched and cancelled from its card,
guidelines and labels edited, a user invited, the API docs page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from curator.models import Job, Membership, Project, Role, RoutingDecision, User
from tests.conftest import PASSWORD, as_jsonl, sst2_rows, wait_for_job
from tests.test_browser import CHROMIUM_ARGS, login, page  # noqa: F401 - the page fixture
from tests.test_imports import run_import

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Where the pages' screenshots go when someone wants to look at them.
SHOTS = os.environ.get("CURATOR_SCREENSHOTS", "")


def shot(page, name: str) -> None:  # noqa: F811
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


@pytest.mark.worker
def test_a_job_started_elsewhere_appears_runs_and_is_cancelled_from_its_card(
    celery_worker,
    page,  # noqa: F811
    live_server,
    project,
    admin_user,
):
    run_import(project, as_jsonl(sst2_rows("train", 20)), split="train")  # few-shot examples
    run_import(project, as_jsonl(sst2_rows("dev", 600), drop=("label",)))
    login(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/p/{project.slug}/")
    # Started by someone else (here: the API), the job appears without a reload.
    client_job = _start_prelabel(project, admin_user)
    card = page.locator(f"#job-{client_job.pk}")
    expect(card).to_be_visible(timeout=10_000)
    # Once it runs, the card says since when, how fast, and how long is left.
    expect(card.locator(".eta")).to_be_visible(timeout=120_000)
    expect(card.locator(".job-times")).to_contain_text("running for")
    expect(card.locator(".job-times")).to_contain_text("items/")
    shot(page, "job-running")
    card.get_by_role("button", name="Cancel").click()
    expect(page.locator(".messages")).to_contain_text(f"job {client_job.pk} cancelled")
    expect(page.locator(f"#job-{client_job.pk} .status")).to_have_text("cancelled")
    job = wait_for_job(client_job.pk)
    assert job.status == Job.Status.CANCELLED
    # The worker stops at its next chunk: far fewer than all 600 records were routed.
    page.wait_for_timeout(3000)
    routed = RoutingDecision.objects.filter(job=job).count()
    page.wait_for_timeout(2000)
    assert RoutingDecision.objects.filter(job=job).count() == routed < 600
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED
    shot(page, "job-cancelled")


def _start_prelabel(project: Project, user: User) -> Job:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.post(
        f"/api/projects/{project.slug}/jobs/",
        {"kind": "prelabel", "params": {"limit": 600, "chunk_size": 5}},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    return Job.objects.get(pk=response.json()["id"])


def test_admin_edits_guidelines_and_labels(
    page,  # noqa: F811
    live_server,
    project,
    admin_user,
    annotator,
):
    run_import(project, as_jsonl(sst2_rows("dev", 10)))  # labels that use both values
    login(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/p/{project.slug}/")
    page.get_by_role("link", name="Edit", exact=True).click()
    page.fill("textarea[name=guidelines]", "Judge the <b>film</b>, not the actors.")
    page.fill(
        "textarea[name=labels]", "negative | Thumbs down\npositive | Thumbs up\nmixed | Mixed"
    )
    shot(page, "project-edit")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Project saved.")
    expect(page.locator(".guidelines")).to_have_text("Judge the <b>film</b>, not the actors.")
    # Removing a label in use asks first, and says what happens to the labels people gave.
    page.get_by_role("link", name="Edit", exact=True).click()
    page.fill("textarea[name=labels]", "positive | Thumbs up\nmixed | Mixed")
    page.get_by_role("button", name="Save").click()
    warning = page.locator("#label-removal")
    expect(warning).to_contain_text("never rewritten")
    shot(page, "label-removal")
    project.refresh_from_db()
    assert project.label_values == ["negative", "positive", "mixed"]
    warning.get_by_label("Remove 1 label in use anyway").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Project saved.")
    project.refresh_from_db()
    assert project.labels == [
        {"value": "positive", "name": "Thumbs up"},
        {"value": "mixed", "name": "Mixed"},
    ]
    # Annotators see the new names on their keys.
    login(page, live_server.url, annotator.username)
    page.goto(f"{live_server.url}/p/{project.slug}/annotate/")
    expect(page.locator("body")).to_contain_text("Thumbs up")
    expect(page.locator("body")).not_to_contain_text("Thumbs down")


def test_staff_invite_a_user_who_sets_a_password_and_starts(
    page,  # noqa: F811
    live_server,
    project,
    admin_user,
):
    admin_user.is_staff = True
    admin_user.save()
    login(page, live_server.url, admin_user.username)
    page.locator(".topbar").get_by_role("link", name="Users").click()
    page.fill("input[name=username]", "nora")
    page.fill("input[name=email]", "nora@example.org")
    page.select_option("select[name=project]", label=project.name)
    page.select_option("select[name=role]", "annotator")
    page.get_by_role("button", name="Create and get an invitation link").click()
    link = page.get_by_label("Invitation link").input_value()
    assert link.startswith(f"{live_server.url}/invite/")
    shot(page, "users")
    page.context.clear_cookies()  # the invitee, in a browser of their own
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Welcome, nora")
    page.fill("input[name=new_password1]", "short")
    page.fill("input[name=new_password2]", "short")
    page.get_by_role("button", name="Set password and log in").click()
    expect(page.locator(".error").first).to_contain_text("too short")
    page.fill("input[name=new_password1]", PASSWORD)
    page.fill("input[name=new_password2]", PASSWORD)
    page.get_by_role("button", name="Set password and log in").click()
    expect(page.locator(".messages")).to_contain_text("Welcome, nora")
    expect(page.get_by_role("link", name=project.name)).to_be_visible()
    nora = User.objects.get(username="nora")
    assert Membership.objects.get(user=nora, project=project).role == Role.ANNOTATOR
    page.goto(link)  # one use
    expect(page.locator("h1")).to_have_text("This invitation link no longer works")
    shot(page, "invite-used")


def test_api_docs_page_renders_the_schema_from_local_files(
    page,  # noqa: F811
    live_server,
    admin_user,
):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    login(page, live_server.url, admin_user.username)
    page.locator(".topbar").get_by_role("link", name="API docs").click()
    expect(page.locator(".swagger-ui .title")).to_contain_text("curator API", timeout=20_000)
    expect(
        page.locator(".opblock-summary-path", has_text="/api/projects/{slug}/jobs/{job_id}/cancel/")
    ).to_be_visible()
    shot(page, "api-docs")
    assert requested and all(url.startswith(live_server.url) for url in requested), [
        url for url in requested if not url.startswith(live_server.url)
    ]
