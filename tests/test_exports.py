"""Exports load in the `datasets` library, carry a manifest, and import back; the command line
does what the pages do."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Annotation
from curator import public_data
from curator.models import Job, Record, Split
from curator.services.exports import export_write, labeled_rows
from curator.services.projects import project_create
from curator.services.rounds import round_start
from tests.conftest import as_jsonl, sst2_rows
from tests.test_imports import run_import
from workers.runtime import job_claim

IDS = ("record_id", "annotation_id", "content_hash", "split", "label_source")


def without_ids(rows: list[dict]) -> list[dict]:
    return sorted(
        json.dumps({k: v for k, v in r.items() if k not in IDS}, sort_keys=True) for r in rows
    )


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "hf"])
def test_every_format_loads_in_datasets_with_a_manifest(fmt, project, tmp_path):
    from datasets import load_dataset, load_from_disk

    run_import(project, as_jsonl(sst2_rows("dev", 40)), split=Split.TRAIN)
    manifest = export_write(project, tmp_path, fmt)
    path = tmp_path / manifest["file"]
    if fmt == "hf":
        dataset = load_from_disk(str(path))
    else:
        builder = {"jsonl": "json", "csv": "csv", "parquet": "parquet"}[fmt]
        dataset = load_dataset(builder, data_files=str(path), split="train")
    assert dataset.num_rows == manifest["rows"] == 40
    assert {"text", "label", "record_id", "annotation_id"} <= set(dataset.column_names)
    assert set(dataset["label"]) == {"negative", "positive"}
    saved = json.loads((tmp_path / "manifest.json").read_text())
    assert saved["project"]["slug"] == project.slug and saved["format"] == fmt
    assert sum(saved["label_counts"].values()) == 40
    if fmt != "hf":
        assert saved["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


PAIRWISE_ROWS = [
    {**{k: v for k, v in p.items() if k != "preferred"}, "label": {"choice": p["preferred"]}}
    for p in public_data.hh_pairs(6)
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("task_type", "labels", "rows"),
    [
        ("classification", ["negative", "positive"], sst2_rows("dev", 12)),
        ("pairwise", [], PAIRWISE_ROWS),
        ("correction", [], [
            {**r, "label": {"text": r["draft"] + " (checked)"}} for r in public_data.alpaca(5)
        ]),
        ("span", ["ASPECT"], [
            {"text": t, "label": [{"start": 0, "end": len(t.split()[0]), "label": "ASPECT"}]}
            for t, _ in public_data.sst2("dev", 5)
        ]),
    ],
)  # fmt: skip
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_exports_import_back_unchanged(task_type, labels, rows, fmt, admin_user, tmp_path):
    first = project_create(name=f"{task_type} a", task_type=task_type, labels=labels,
                           created_by=admin_user)  # fmt: skip
    run_import(first, as_jsonl(rows), split=Split.TRAIN)
    exported = list(labeled_rows(first))
    assert len(exported) == len(rows)
    manifest = export_write(first, tmp_path, fmt)
    second = project_create(name=f"{task_type} b", task_type=task_type, labels=labels,
                            created_by=admin_user)  # fmt: skip
    data = (tmp_path / manifest["file"]).read_bytes()
    _, result = run_import(second, data, fmt=fmt, split=Split.TRAIN)
    assert result.created == len(rows) and result.labels == len(rows)
    assert without_ids(list(labeled_rows(second))) == without_ids(exported)


@pytest.mark.django_db
def test_a_rounds_export_is_exactly_its_training_set(project, admin_user, member, tmp_path):
    from workers.jobs.round import round_run

    run_import(project, as_jsonl(sst2_rows("dev", 60)), split=Split.TRAIN)
    round_ = round_start(project=project, user=admin_user)
    round_run(job_claim(Job.objects.get(round=round_).pk))
    # Labeled after the round started: in the project's export, not in the round's.
    late = Record.objects.create(project=project, payload={"text": "late"}, content_hash="l" * 64)
    Annotation.objects.create(record=late, project=project, value="positive", source="human",
                              author=admin_user)  # fmt: skip
    round_.refresh_from_db()
    manifest = export_write(project, tmp_path, "jsonl", round_=round_)
    rows = [json.loads(line) for line in (tmp_path / "data.jsonl").read_text().splitlines()]
    snapshot = set(round_.snapshot_items.values_list("record_id", "annotation_id"))
    assert {(r["record_id"], r["annotation_id"]) for r in rows} == snapshot
    assert manifest["round"] == {"number": 1, "snapshot_sha256": round_.snapshot_sha256}
    assert late.pk in {r["record_id"] for r in labeled_rows(project)}


@pytest.mark.django_db
def test_api_export_archive_holds_data_and_manifest(client, project, curator_user):
    run_import(project, as_jsonl(sst2_rows("dev", 10)), split=Split.TRAIN)
    client.force_login(curator_user)
    response = client.get(f"/api/projects/{project.slug}/export/?output=parquet")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert set(archive.namelist()) == {"data.parquet", "manifest.json"}
    assert json.loads(archive.read("manifest.json"))["rows"] == 10
    assert client.get(f"/api/projects/{project.slug}/export/?output=xml").status_code == 400
    assert client.get(f"/api/projects/{project.slug}/export/?output=csv&round=9").status_code == 404


@pytest.mark.django_db
def test_command_line_import_export_and_status(project, tmp_path, capsys):
    good = tmp_path / "good.jsonl"
    good.write_bytes(as_jsonl(sst2_rows("dev", 8)))
    call_command("curator_import", project.slug, str(good), "--split", "train")
    assert Record.objects.filter(project=project).count() == 8
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(as_jsonl(sst2_rows("dev", 12)[8:]) + b'{"text": "x", "label": "meh"}\n')
    with pytest.raises(CommandError, match="line 5: label 'meh'"):
        call_command("curator_import", project.slug, str(bad))
    assert Record.objects.filter(project=project).count() == 8  # nothing of the bad file
    out = tmp_path / "out"
    call_command("curator_export", project.slug, str(out), "--format", "csv")
    assert (out / "data.csv").exists() and (out / "manifest.json").exists()
    capsys.readouterr()
    call_command("curator_status", project.slug)
    status = json.loads(capsys.readouterr().out)
    assert status["overview"]["records"] == 8 and status["task_type"] == "classification"
    with pytest.raises(CommandError, match="no project"):
        call_command("curator_status", "nope")
    assert Path(out / "manifest.json").read_text()


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["parquet", "hf"])
def test_columnar_exports_written_batch_by_batch_hold_every_row_in_order(
    fmt, project, tmp_path, monkeypatch
):
    """Parquet and the datasets folder stream in Arrow batches (memory holds one): with a batch
    of 7 rows, 40 records cross six batch boundaries and come out whole, in record order."""
    from datasets import load_dataset, load_from_disk

    import curator.exporting

    monkeypatch.setattr(curator.exporting, "ARROW_BATCH", 7)
    run_import(project, as_jsonl(sst2_rows("dev", 40)), split=Split.TRAIN)
    manifest = export_write(project, tmp_path / fmt, fmt)
    path = tmp_path / fmt / manifest["file"]
    if fmt == "hf":
        dataset = load_from_disk(str(path))
    else:
        dataset = load_dataset("parquet", data_files=str(path), split="train")
    expected = list(labeled_rows(project))
    assert dataset.to_list() == expected
    assert [row["record_id"] for row in expected] == sorted(
        Record.objects.filter(project=project).values_list("id", flat=True)
    )
    assert not (tmp_path / fmt / "dataset.arrows").exists()  # the staging stream is gone


@pytest.mark.django_db
def test_the_manifest_digest_and_counts_cover_exactly_the_exported_records(project, tmp_path):
    run_import(project, as_jsonl(sst2_rows("dev", 30)), split=Split.TRAIN)
    manifest = export_write(project, tmp_path, "jsonl")
    ids = sorted(Record.objects.filter(project=project).values_list("id", flat=True))
    assert manifest["rows"] == 30
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()
    assert manifest["record_ids_sha256"] == digest
    assert manifest["generated_batches"] == []


@pytest.mark.django_db
@pytest.mark.parametrize("consensus", ["majority", "dawid_skene"])
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_settled_range_by_range_writes_what_one_range_writes(
    consensus, fmt, project, make_user, tmp_path, monkeypatch
):
    """Labels are settled a range of records at a time (memory holds one range's votes). With
    ranges of 2 annotations, records voted on 3 times by different people straddle every range
    boundary; the file is byte for byte the one a single range writes, and each record carries
    the label its whole set of votes gives (majority, a review, gold truth, an auto-accepted LLM
    label where nobody labeled)."""
    import curator.services.exports as exports
    from curator.models import RoutingDecision

    project.settings = {**project.settings, "consensus": consensus}
    project.save(update_fields=["settings"])
    people = [make_user() for _ in range(3)]
    texts = [text for text, _ in public_data.sst2("dev", 12)]
    records = [
        Record.objects.create(
            project=project,
            payload={"text": text},
            content_hash=f"{i:064x}",
            split=Split.GOLD if i == 4 else Split.POOL,
        )
        for i, text in enumerate(texts)
    ]
    # Votes go round the records (a record's votes are not neighbours by id): people 0 and 1
    # say negative, person 2 positive, except on record 1, where two say positive.
    for person_index, person in enumerate(people):
        for i, record in enumerate(records[:8]):
            if i == 4:
                continue
            positive = person_index == 2 or (i == 1 and person_index == 0)
            Annotation.objects.create(
                record=record,
                project=project,
                author=person,
                source="human",
                value="positive" if positive else "negative",
            )
    Annotation.objects.create(record=records[4], project=project, source="import", value="positive")
    Annotation.objects.create(
        record=records[6], project=project, source="review", author=people[0], value="positive"
    )
    llm_job = Job.objects.create(project=project, kind=Job.Kind.PRELABEL)
    Record.objects.filter(pk=records[9].pk).update(route=RoutingDecision.Decision.AUTO)
    Annotation.objects.create(
        record=records[9], project=project, source="llm", job=llm_job, value="positive"
    )

    def export(chunk: int) -> tuple[bytes, list[dict]]:
        monkeypatch.setattr(exports, "CHUNK", chunk)
        folder = tmp_path / f"{fmt}-{chunk}"
        export_write(project, folder, fmt)
        return (folder / exports.FILENAMES[fmt]).read_bytes(), list(labeled_rows(project))

    whole, whole_rows = export(10**6)
    ranged, ranged_rows = export(2)
    assert ranged == whole and ranged_rows == whole_rows
    labels = {row["record_id"]: row["label"] for row in ranged_rows}
    expected = {i: "negative" for i in range(8)} | {1: "positive", 4: "positive", 6: "positive"}
    expected[9] = "positive"
    assert labels == {records[i].pk: label for i, label in expected.items()}


@pytest.mark.django_db
def test_dawid_skene_weighs_authors_by_all_their_labels_whatever_the_range(
    project, make_user, tmp_path, monkeypatch
):
    """Dawid-Skene's competence comes from every label of the project, not from the range being
    settled: ann is always with the majority, bob and cy each half the time, so on the one
    record where bob and cy outvote her, her label wins, in one range as in many."""
    import curator.services.exports as exports

    project.settings = {**project.settings, "consensus": "dawid_skene"}
    project.save(update_fields=["settings"])
    people = [make_user(name) for name in ("ann", "bob", "cy")]
    texts = [text for text, _ in public_data.sst2("dev", 13)]
    records = [
        Record.objects.create(
            project=project, payload={"text": text}, content_hash=f"{i:064x}", split=Split.POOL
        )
        for i, text in enumerate(texts)
    ]
    flip = {"positive": "negative", "negative": "positive"}
    for i, record in enumerate(records):
        first = "positive" if i % 2 else "negative"
        # Records 0-5: cy dissents; 6-11: bob dissents; 12: ann does.
        dissent = 2 if i < 6 else 1 if i < 12 else 0
        for index, person in enumerate(people):
            value = flip[first] if index == dissent else first
            Annotation.objects.create(
                record=record, project=project, author=person, source="human", value=value
            )

    def export(chunk: int) -> tuple[bytes, list[dict]]:
        monkeypatch.setattr(exports, "CHUNK", chunk)
        folder = tmp_path / f"jsonl-{chunk}"
        export_write(project, folder, "jsonl")
        return (folder / "data.jsonl").read_bytes(), list(labeled_rows(project))

    whole, whole_rows = export(10**6)
    ranged, ranged_rows = export(3)
    assert ranged == whole and ranged_rows == whole_rows
    last = next(row for row in ranged_rows if row["record_id"] == records[12].pk)
    assert last["label"] == "positive"  # ann's, against bob's and cy's "negative"
