"""The data manager and the export dialog in a real browser (Chromium driven by Playwright):
search, filter, sort and a bulk action as a curator; the export dialog for every task type, with
each downloaded file loaded by `datasets`."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from annotation.models import Annotation, Source
from curator.hashing import content_hash
from curator.models import AuditEvent, Record, Split, User
from curator.services.projects import project_create
from tests.conftest import as_jsonl, sst2_rows
from tests.test_browser import login, page  # noqa: F401 - the page fixture
from tests.test_imports import run_import
from tests.test_task_type_registry import EXAMPLES

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"


def shown_ids(page) -> list[int]:  # noqa: F811
    return [int(pk) for pk in page.locator("tr[data-record]").evaluate_all(
        "rows => rows.map(r => r.dataset.record)")]  # fmt: skip


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_curator_searches_filters_sorts_and_holds(page, live_server, project, curator_user):  # noqa: F811
    rows = sst2_rows("dev", 30)
    rows[3]["text"] = "A quietly zyzzyva <b>film</b>"
    run_import(project, as_jsonl(rows[:15]), split=Split.TRAIN)
    run_import(project, as_jsonl(rows[15:], drop=("label",)))
    train = list(Record.objects.filter(project=project, split=Split.TRAIN).order_by("id"))
    top = Record.objects.filter(project=project, split=Split.POOL).order_by("id")[4]
    Record.objects.filter(pk=top.pk).update(priority=0.99)
    login(page, live_server.url, curator_user.username)
    page.goto(f"{live_server.url}/p/{project.slug}/")
    page.click("a:has-text('Records')")
    expect(page.locator("h1")).to_have_text("Records")
    expect(page.locator("#record-count")).to_contain_text("30 records")

    # Search: one record, its markup shown as text.
    page.fill("input[name=q]", "zyzzyva")
    page.click("#apply-filters")
    expect(page.locator("#record-count")).to_contain_text("1 record matches")
    assert shown_ids(page) == [train[3].pk]
    expect(page.locator("tr[data-record] td.text")).to_have_text("A quietly zyzzyva <b>film</b>")
    assert "q=zyzzyva" in page.url  # the view is a URL

    # Filters combine: train records labeled negative.
    page.fill("input[name=q]", "")
    page.select_option("select[name=split]", "train")
    page.select_option("select[name=label]", "negative")
    page.click("#apply-filters")
    negative = [r.pk for r in train if Annotation.objects.get(record=r).value == "negative"]
    assert shown_ids(page) == negative
    expect(page.locator("tr[data-record] td.label")).to_have_text(["Negative"] * len(negative))
    assert "split=train" in page.url and "label=negative" in page.url
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "data-manager-filtered.png"), full_page=True)

    # Sort by priority, highest first, over the whole project.
    page.goto(f"{live_server.url}/p/{project.slug}/records/")
    page.select_option("select[name=sort]", "-priority")
    page.click("#apply-filters")
    assert shown_ids(page)[0] == top.pk

    # Bulk action on two selected rows: hold them from training.
    chosen = shown_ids(page)[:2]
    for pk in chosen:
        page.check(f"input[name=ids][value='{pk}']")
    page.select_option("#bulk-action", "hold")
    page.click("#bulk-apply")
    expect(page.locator(".messages")).to_contain_text("2 record(s) held from training")
    assert set(Record.objects.filter(held=True).values_list("pk", flat=True)) == set(chosen)
    assert "sort=-priority" in page.url  # back on the same view

    # ... then on the whole filtered set: every held record is cleared.
    page.select_option("select[name=held]", "yes")
    page.click("#apply-filters")
    assert sorted(shown_ids(page)) == sorted(chosen)
    page.select_option("#bulk-action", "clear")
    page.select_option("#bulk-scope", "filtered")
    page.click("#bulk-apply")
    expect(page.locator(".messages")).to_contain_text("2 hold(s) cleared")
    assert not Record.objects.filter(held=True).exists()
    assert AuditEvent.objects.filter(action="records.clear", actor=curator_user).count() == 1
    page.screenshot(path=str(SHOTS / "data-manager-bulk.png"), full_page=True)


# task type -> (format, shape) the dialog is driven with; every format and every task-type
# shape is covered across the cases.
EXPORTS = {
    "classification": [("csv", "full"), ("hf", "text_label")],
    "multilabel": [("parquet", "text_labels")],
    "rating": [("jsonl", "text_rating")],
    "pairwise": [("csv", "full"), ("jsonl", "dpo")],
    "correction": [("parquet", "sft_messages"), ("csv", "prompt_response")],
    "span": [("hf", "text_spans")],
}


def _load(directory: Path, manifest: dict):
    from datasets import load_dataset, load_from_disk

    path = directory / manifest["file"]
    if manifest["format"] == "hf":
        return load_from_disk(str(path))
    builder = {"jsonl": "json", "csv": "csv", "parquet": "parquet"}[manifest["format"]]
    return load_dataset(builder, data_files=str(path), split="train")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("task_type", list(EXPORTS))
def test_export_dialog_downloads_what_datasets_loads(page, live_server, admin_user, task_type,  # noqa: F811
                                                     tmp_path):  # fmt: skip
    labels, payload, _, value = EXAMPLES[task_type]
    project = project_create(name=f"Export {task_type}", task_type=task_type, labels=labels,
                             created_by=admin_user)  # fmt: skip
    field = "prompt" if "prompt" in payload else "text"
    for n in range(3):
        record_payload = {**payload, field: f"{payload[field]} #{n}"}
        record = Record.objects.create(project=project, payload=record_payload, split=Split.TRAIN,
                                       content_hash=content_hash(record_payload))  # fmt: skip
        Annotation.objects.create(record=record, project=project, value=value,
                                  source=Source.IMPORT)  # fmt: skip
    login(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/p/{project.slug}/")
    page.click("a:has-text('Export…')")
    dialog = page.locator("#export-dialog")
    expect(dialog).to_be_visible()
    if task_type == "pairwise":
        page.screenshot(path=str(SHOTS / "export-dialog.png"))
    for fmt, shape in EXPORTS[task_type]:
        if not dialog.is_visible():
            page.click("#open-export")
        dialog.locator("select[name=output]").select_option(fmt)
        dialog.locator("select[name=shape]").select_option(shape)
        with page.expect_download() as download:
            dialog.locator("#export-download").click()
        target = tmp_path / f"{fmt}-{shape}"
        zipped = target.with_suffix(".zip")
        download.value.save_as(zipped)
        zipfile.ZipFile(zipped).extractall(target)
        manifest = json.loads((target / "manifest.json").read_text())
        assert (manifest["format"], manifest["shape"], manifest["rows"]) == (fmt, shape, 3)
        dataset = _load(target, manifest)
        assert dataset.num_rows == 3
        columns = set(dataset.column_names)
        if shape == "full":
            assert {"record_id", "label_source", "review", "held"} <= columns
        else:
            assert columns == {"record_id", *manifest_fields(task_type, shape)}
        if task_type == "pairwise":
            assert set(dataset["prompt"]) == {f"Say hi #{n}" for n in range(3)}
            if shape == "full":
                assert set(dataset["response_b"]) == {"Hello!"}
            else:
                assert set(dataset["chosen"]) == {"Hello!"}
        if task_type == "correction" and shape == "sft_messages":
            assert dataset[0]["messages"][1] == {"role": "assistant", "content": "Hello"}


def manifest_fields(task_type: str, shape: str) -> tuple[str, ...]:
    from annotation import task_types

    return task_types.get(task_type).export_shapes[shape]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_keyset_pages_and_annotators_own_records(page, live_server, project,  # noqa: F811
                                                 curator_user, annotator):  # fmt: skip
    run_import(project, as_jsonl(sst2_rows("dev", 60), drop=("label",)))
    records = list(Record.objects.filter(project=project).order_by("id"))
    other = User.objects.create_user("olivia")
    for record in records[:3]:
        Annotation.objects.create(record=record, project=project, value="positive",
                                  source=Source.HUMAN, author=annotator)  # fmt: skip
        Annotation.objects.create(record=record, project=project, value="negative",
                                  source=Source.HUMAN, author=other)  # fmt: skip
    login(page, live_server.url, curator_user.username)
    page.goto(f"{live_server.url}/p/{project.slug}/records/?sort=-id")
    assert shown_ids(page) == [r.pk for r in reversed(records)][:50]
    page.click("#next-page")  # swapped in by htmx, the URL follows
    expect(page.locator("tr[data-record]")).to_have_count(10)
    assert shown_ids(page) == [r.pk for r in reversed(records)][50:]
    assert "after=" in page.url and "sort=-id" in page.url
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    page.click("button.link:has-text('Log out')")

    login(page, live_server.url, annotator.username)
    page.goto(f"{live_server.url}/p/{project.slug}/")
    page.click("a:has-text('My records')")
    expect(page.locator("#record-count")).to_have_text("3 records")
    assert shown_ids(page) == [r.pk for r in records[:3]]
    # Read only: no selection, no bulk actions, no export, no links to curators' pages.
    assert page.locator("input[name=ids], #bulk-action, #open-export").count() == 0
    assert page.locator("tr[data-record] a").count() == 0
    # Their own labels only: another annotator's label on the same record is not shown.
    expect(page.locator("tr[data-record] td.label")).to_have_text(["Positive"] * 3)
    expect(page.locator("th", has_text="Annotators")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "data-manager-annotator.png"), full_page=True)
