"""Every task type labeled by keyboard in Chromium, plus undo, skip reasons and flags."""

import pytest
from playwright.sync_api import expect

from annotation.models import Annotation, Assignment, Comment, Source
from curator import public_data
from curator.models import Membership, Record, Role
from curator.services.projects import project_create
from tests.conftest import as_jsonl, sst2_rows
from tests.test_browser import login, page, settled  # noqa: F401 - the page fixture
from tests.test_imports import run_import

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_project(admin_user, annotator, task_type, labels, rows):
    project = project_create(
        name=f"{task_type} in the browser",
        task_type=task_type,
        labels=labels,
        created_by=admin_user,
        settings={"gold_rate": 0},
    )
    Membership.objects.create(user=annotator, project=project, role=Role.ANNOTATOR)
    run_import(project, as_jsonl(rows))
    return project


def start(page, live_server, project, annotator):  # noqa: F811
    login(page, live_server.url, annotator.username)
    page.goto(f"{live_server.url}/p/{project.slug}/annotate/")
    expect(page.locator("#record-text")).not_to_have_text("")


def labels_of(annotator):
    return list(
        Annotation.objects.filter(author=annotator, source=Source.HUMAN)
        .order_by("id")
        .values_list("value", flat=True)
    )


def wait_for_labels(page, annotator, count: int) -> None:  # noqa: F811
    """Until `count` labels are stored and the next card has settled (keys pressed while a
    label is in flight are ignored by design)."""
    for _ in range(100):
        if Annotation.objects.filter(author=annotator).count() >= count:
            break
        page.wait_for_timeout(50)
    else:
        raise AssertionError(f"expected {count} labels, found {len(labels_of(annotator))}")
    settled(page)


def test_multilabel_toggles_then_enter(page, live_server, admin_user, annotator):  # noqa: F811
    rows = [{"text": t["text"]} for t in public_data.tweets(3)]
    project = open_project(
        admin_user, annotator, "multilabel", ["hate", "offensive", "neither"], rows
    )
    start(page, live_server, project, annotator)
    page.keyboard.press("1")
    page.keyboard.press("3")
    page.keyboard.press("1")  # toggled off again
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    wait_for_labels(page, annotator, 1)
    page.keyboard.press("Enter")  # nothing ticked: "none apply"
    wait_for_labels(page, annotator, 2)
    assert labels_of(annotator) == [["offensive", "neither"], []]


def test_rating_keys_and_accepting_a_suggestion(page, live_server, admin_user, annotator):  # noqa: F811
    scale = [{"value": str(n), "name": f"{n} - rubric {n}"} for n in range(1, 6)]
    rows = [{"text": r["draft"]} for r in public_data.alpaca(3)]
    project = open_project(admin_user, annotator, "rating", scale, rows)
    second = Record.objects.filter(project=project).order_by("id")[1]
    Annotation.objects.create(
        record=second, project=project, value=4, source=Source.LLM, confidence=0.7
    )
    start(page, live_server, project, annotator)
    page.keyboard.press("2")
    expect(page.locator("#suggestion")).to_contain_text("4 - rubric 4")
    settled(page)
    page.keyboard.press("Enter")  # accepts the model's 4
    wait_for_labels(page, annotator, 2)
    stored = list(Annotation.objects.filter(author=annotator).order_by("id"))
    assert [a.value for a in stored] == [2, 4]
    assert [a.suggestion_accepted for a in stored] == [None, True]


def test_pairwise_reason_then_choice(page, live_server, admin_user, annotator):  # noqa: F811
    project = open_project(admin_user, annotator, "pairwise", [], public_data.hh_pairs(2))
    start(page, live_server, project, annotator)
    expect(page.locator("#response-a")).not_to_have_text("")
    page.keyboard.press("r")
    page.keyboard.type("B refuses politely")
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    wait_for_labels(page, annotator, 1)
    page.keyboard.press("t")
    wait_for_labels(page, annotator, 2)
    assert labels_of(annotator) == [
        {"choice": "b", "reason": "B refuses politely"},
        {"choice": "tie", "reason": ""},
    ]


def test_correction_edits_the_draft(page, live_server, admin_user, annotator):  # noqa: F811
    rows = public_data.alpaca(2)
    project = open_project(admin_user, annotator, "correction", [], rows)
    start(page, live_server, project, annotator)
    editor = page.locator("#response-editor")
    expect(editor).to_be_focused()
    first_draft = editor.input_value()
    page.keyboard.press("End")
    page.keyboard.press("Control+End")
    page.keyboard.type(" (checked)")
    page.keyboard.press("Control+Enter")
    wait_for_labels(page, annotator, 1)
    expect(editor).to_be_focused()
    page.keyboard.press("Control+Enter")  # the draft as it is: accepted
    wait_for_labels(page, annotator, 2)
    stored = list(Annotation.objects.filter(author=annotator).order_by("id"))
    assert stored[0].value["text"] == first_draft + " (checked)"
    assert stored[0].value["edited"] is True and stored[0].suggestion_accepted is False
    assert stored[1].value["edited"] is False and stored[1].suggestion_accepted is True
    assert {a.value["draft"] for a in stored} == {r["draft"] for r in rows}


def select_text(page, start: int, end: int) -> None:  # noqa: F811
    page.evaluate(
        """([start, end]) => {
            const box = document.getElementById('record-text');
            const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
            const range = document.createRange();
            let seen = 0, node;
            while ((node = walker.nextNode())) {
                const len = node.textContent.length;
                if (seen <= start && start <= seen + len) range.setStart(node, start - seen);
                if (seen <= end && end <= seen + len) { range.setEnd(node, end - seen); break; }
                seen += len;
            }
            const selection = window.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
        }""",
        [start, end],
    )


def test_span_select_and_tag(page, live_server, admin_user, annotator):  # noqa: F811
    text = "the acting is superb but the plot drags"
    project = open_project(
        admin_user, annotator, "span", ["ASPECT", "OPINION"], [{"text": text}, {"text": "next"}]
    )
    start(page, live_server, project, annotator)

    def word(w: str) -> tuple[int, int]:
        return text.index(w), text.index(w) + len(w)

    select_text(page, word("acting")[0], word("acting")[1] + 1)  # the trailing space is trimmed
    page.keyboard.press("1")
    expect(page.locator("#record-text mark")).to_have_count(1)
    select_text(page, *word("superb"))
    page.keyboard.press("2")
    select_text(page, *word("plot"))
    page.keyboard.press("1")
    page.keyboard.press("Backspace")  # removes the last one again
    expect(page.locator("#record-text mark")).to_have_count(2)
    page.keyboard.press("Enter")
    wait_for_labels(page, annotator, 1)
    [spans] = labels_of(annotator)
    assert [(s["text"], s["label"]) for s in spans] == [("acting", "ASPECT"), ("superb", "OPINION")]


def test_undo_skip_with_reason_and_flag(page, live_server, project, annotator):  # noqa: F811
    run_import(project, as_jsonl(sst2_rows("dev", 6), drop=("label",)))
    start(page, live_server, project, annotator)
    text = page.locator("#record-text")
    first = text.inner_text()
    page.keyboard.press("1")
    expect(text).not_to_have_text(first)
    settled(page)
    page.keyboard.press("u")
    expect(page.locator(".progress")).to_contain_text("Changing your label")
    expect(text).to_have_text(first)
    settled(page)
    page.keyboard.press("2")
    expect(page.locator(".notice")).to_contain_text("Label changed")
    settled(page)
    labels = list(Annotation.objects.filter(author=annotator).order_by("id"))
    assert [a.value for a in labels] == ["negative", "positive"]
    assert labels[1].supersedes_id == labels[0].pk

    current = text.inner_text()
    page.keyboard.press("s")
    expect(page.locator("#skip-panel")).to_be_visible()
    page.keyboard.press("2")  # "Off-topic or broken"
    expect(text).not_to_have_text(current)
    settled(page)
    assert Assignment.objects.get(annotator=annotator, state="skipped").skip_reason == "off-topic"

    page.keyboard.press("f")
    expect(page.locator("#comment-panel textarea")).to_be_focused()
    page.keyboard.type("is this sarcasm?")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".notice")).to_contain_text("Flagged")
    comment = Comment.objects.get(author=annotator)
    assert (comment.text, comment.flag) == ("is this sarcasm?", True)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1


def test_curator_takes_a_generated_batch_to_approval(
    page,  # noqa: F811 - the fixture
    live_server,
    celery_worker,
    project,
    curator_user,
):
    from curator.models import Job, ReviewState
    from tests.conftest import wait_for_job

    project.settings = {**project.settings, "score_toxicity_on_import": False}
    project.save()
    rows = [r for r in sst2_rows("dev", 80) if 8 <= len(r["text"].split()) <= 20][:8]
    run_import(project, as_jsonl(rows), split="train")
    login(page, live_server.url, curator_user.username)
    page.goto(f"{live_server.url}/p/{project.slug}/data/")
    page.select_option("select[name=generator]", "instruction")
    page.fill("#batches input[name=count]", "2")
    page.click("text=Generate a batch")
    expect(page.locator(".messages")).to_contain_text("started")
    job = wait_for_job(Job.objects.get(kind=Job.Kind.GENERATE).pk, timeout=300)
    assert job.status == Job.Status.SUCCEEDED, job.error
    page.reload()
    page.click(f"text=#{job.pk} instruction")
    first = Record.objects.filter(created_by_job=job).order_by("id").first()
    row = page.locator(f"#item-{first.pk}")
    row.locator("button[value=approve]").click()
    expect(page.locator(f"#item-{first.pk}")).to_contain_text("approved")
    first.refresh_from_db()
    assert first.review == ReviewState.APPROVED and first.split == "train"
    assert Annotation.objects.filter(record=first, source=Source.REVIEW).exists()
