"""The labeling loop in a real browser: Debian chromium driven by Playwright."""

import pytest
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from annotation.models import Annotation, Source
from curator.models import Record
from tests.conftest import PASSWORD, as_jsonl, sst2_rows
from tests.test_imports import run_import

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test are safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        yield context.new_page()
        browser.close()
        # With the event loop running, Django keeps this thread's connections in a context
        # variable apart from the ones the rest of the suite uses, and nothing else closes them:
        # after the PostgreSQL restart of the fault tests every later browser test would inherit
        # a dead connection. Close them while still inside that context.
        connections.close_all()


def settled(page) -> None:
    """Until no label is in flight: keys pressed meanwhile are ignored by design."""
    # Not wait_for_function: its polling evaluates a string, which the page's CSP refuses.
    expect(page.locator("body")).not_to_have_attribute("data-busy", "true")


def login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    expect(page.locator("h1")).to_have_text("Projects")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_annotator_labels_three_records_by_keyboard(page, live_server, project, annotator):
    rows = sst2_rows("dev", 5)
    rows[0]["text"] = "<script>window.pwned = 1</script> <b>bold</b> claim"
    run_import(project, as_jsonl(rows, drop=("label",)))
    login(page, live_server.url, annotator.username)
    page.goto(f"{live_server.url}/p/{project.slug}/annotate/")
    text = page.locator("#record-text")
    keys = ["1", "2", "1"]  # 1 = negative, 2 = positive, in the order of the project's labels
    seen = []
    for key in keys:
        expect(text).not_to_have_text("")
        current = text.inner_text()
        assert current not in seen
        seen.append(current)
        page.keyboard.press(key)
        expect(text).not_to_have_text(current)
        settled(page)
    # Record text is shown as text, never run as markup.
    assert "<script>window.pwned = 1</script> <b>bold</b> claim" in seen
    assert page.evaluate("window.pwned") is None

    stored = list(Annotation.objects.filter(author=annotator, source=Source.HUMAN).order_by("id"))
    assert [a.value for a in stored] == ["negative", "positive", "negative"]
    texts = [Record.objects.get(pk=a.record_id).payload["text"] for a in stored]
    assert texts == seen
    assert all(a.seconds_spent and a.seconds_spent > 0 for a in stored)
    # The loop swapped fragments; the page itself never reloaded.
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
