"""Bugs of issue 13 that only a browser shows: Enter in the pairwise reason box, keys pressed
while a label saves, the reject message and the batch counters, unreadable key chips."""

import os

import pytest
from playwright.sync_api import expect

from annotation.models import Annotation
from curator import public_data
from curator.hashing import content_hash
from curator.models import Job, Record, ReviewState
from tests.test_browser import login, page, settled  # noqa: F401 - the page fixture
from tests.test_browser_tasks import labels_of, open_project, start, wait_for_labels

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("CURATOR_SCREENSHOTS")  # a folder: save what the cards look like


def shot(page, name: str) -> None:  # noqa: F811
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def test_enter_in_the_pairwise_reason_box_chooses_nothing(page, live_server, admin_user, annotator):  # noqa: F811
    project = open_project(admin_user, annotator, "pairwise", [], public_data.hh_pairs(2))
    start(page, live_server, project, annotator)
    page.keyboard.press("r")
    page.keyboard.type("A is wordy")
    page.keyboard.press("Enter")  # used to submit with the form's first button: "A is better"
    page.wait_for_timeout(500)
    assert labels_of(annotator) == []
    expect(page.locator("input[name=reason]")).not_to_be_focused()  # the choice keys work again
    shot(page, "pairwise")
    page.keyboard.press("b")
    wait_for_labels(page, annotator, 1)
    assert labels_of(annotator) == [{"choice": "b", "reason": "A is wordy"}]


def test_a_key_pressed_while_a_label_saves_is_announced(page, live_server, project, annotator):  # noqa: F811
    from tests.conftest import as_jsonl, sst2_rows
    from tests.test_imports import run_import

    run_import(project, as_jsonl(sst2_rows("dev", 4), drop=("label",)))
    start(page, live_server, project, annotator)
    held = []  # the label's request, held back until the test lets it through
    page.route("**/submit/", lambda route: held.append(route))
    page.keyboard.press("1")
    expect(page.locator("body")).to_have_attribute("data-busy", "true")
    page.keyboard.press("2")  # lands while the first label is on its way
    note = page.locator("#key-ignored")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Key 2 ignored")
    shot(page, "key_ignored")
    held[0].continue_()
    wait_for_labels(page, annotator, 1)
    assert labels_of(annotator) == ["negative"]  # the ignored key stored nothing


def test_correction_key_chips_are_readable(page, live_server, admin_user, annotator):  # noqa: F811
    project = open_project(admin_user, annotator, "correction", [], public_data.alpaca(1))
    start(page, live_server, project, annotator)
    shot(page, "correction")
    ratio = page.evaluate(
        """() => {
          const kbd = document.querySelector("#workspace button.primary kbd");
          const style = getComputedStyle(kbd);
          const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
          const lum = (c) => {
            const [r, g, b] = rgb(c).map((v) => {
              v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
            });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b;
          };
          const [hi, lo] = [lum(style.color), lum(style.backgroundColor)].sort((a, b) => b - a);
          return (hi + 0.05) / (lo + 0.05);
        }"""
    )
    assert ratio >= 4.5, f"key chip contrast {ratio:.2f} (WCAG AA asks 4.5)"


def test_reject_without_reason_says_why_and_counters_follow(
    page,  # noqa: F811
    live_server,
    project,
    curator_user,
):
    job = Job.objects.create(
        project=project, kind=Job.Kind.GENERATE, status=Job.Status.SUCCEEDED,
        params={"generator": "paraphrase", "llm": "demo", "temperature": 0.7},
    )  # fmt: skip
    payloads = [{"text": f"generated sentence {n}"} for n in range(3)]
    items = [
        Record.objects.create(
            project=project,
            payload=payload,
            content_hash=content_hash(payload),
            review=ReviewState.PENDING,
            created_by_job=job,
        )
        for payload in payloads
    ]
    login(page, live_server.url, curator_user.username)
    page.goto(f"{live_server.url}/p/{project.slug}/batches/{job.pk}/")
    stats = page.locator("#batch-stats")
    expect(stats).to_contain_text("3\npending", use_inner_text=True)

    row = page.locator(f"#item-{items[0].pk}")
    row.locator("button[value=reject]").click()
    expect(row.locator("[role=alert]")).to_contain_text("say why")
    shot(page, "reject_without_reason")
    items[0].refresh_from_db()
    assert items[0].review == ReviewState.PENDING

    row.locator("input[name=reason]").fill("off topic")
    row.locator("button[value=reject]").click()
    expect(row).to_contain_text("rejected")
    expect(stats).to_contain_text("2\npending", use_inner_text=True)
    expect(stats).to_contain_text("1\nrejected", use_inner_text=True)
    page.locator(f"#item-{items[1].pk} button[value=approve]").click()
    expect(stats).to_contain_text("1\napproved", use_inner_text=True)
    expect(stats).to_contain_text("1\npending", use_inner_text=True)
    shot(page, "batch_counters")
    assert Annotation.objects.filter(record__in=items).count() >= 1


def test_a_guess_is_not_accepted_by_enter_and_a_suggestion_names_its_button(
    page,  # noqa: F811
    live_server,
    project,
    annotator,
):
    from tests.conftest import as_jsonl, sst2_rows
    from tests.test_imports import run_import

    run_import(project, as_jsonl(sst2_rows("dev", 2), drop=("label",)))
    first, second = Record.objects.filter(project=project).order_by("id")
    for record, confidence in ((first, 0.52), (second, 0.83)):
        Annotation.objects.create(
            record=record, project=project, value="negative", source="llm", confidence=confidence
        )
    start(page, live_server, project, annotator)
    expect(page.locator("#suggestion-withheld")).to_contain_text("near chance")
    shot(page, "suggestion_withheld")
    page.keyboard.press("Enter")  # no suggestion to accept: nothing happens
    page.wait_for_timeout(300)
    assert labels_of(annotator) == []
    page.keyboard.press("2")
    wait_for_labels(page, annotator, 1)
    expect(page.locator("button.suggested")).to_have_text("1 Negative")
    expect(page.locator("button.accept")).to_have_text("Enter: Negative")
    shot(page, "suggestion_offered")
    page.keyboard.press("Enter")
    wait_for_labels(page, annotator, 2)
    stored = list(Annotation.objects.filter(author=annotator).order_by("id"))
    assert [(a.value, a.suggestion_accepted) for a in stored] == [
        ("positive", None),
        ("negative", True),
    ]
