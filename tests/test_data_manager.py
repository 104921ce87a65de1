"""The data manager: filters that combine, full-text search, stable keyset pages, bulk actions on
a selection or a whole filtered set (with permissions and audit), annotators' own slice, and the
export dialog's download."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.core.exceptions import PermissionDenied

from annotation.models import Annotation, Comment, RecordAssignee, Source
from annotation.services.assignment import next_assignment
from curator.models import AuditEvent, Job, NoiseFlag, Record, Role, Score, Split, User
from curator.models.records import REQUEUED_PRIORITY, TOXICITY_KIND
from curator.record_selectors import (
    Cursor,
    RecordFilters,
    ScoreRange,
    Sort,
    filtered_records,
    records_page,
    visible_records,
)
from curator.services.jobs import job_create
from curator.services.projects import project_create
from curator.services.record_actions import BulkRefused, records_bulk_act
from tests.conftest import as_jsonl, sst2_rows
from tests.test_imports import run_import


def ids(records) -> set[int]:
    return set(records.values_list("id", flat=True))


@pytest.fixture
def data(project, annotator, curator_user, member):
    """40 pool records without labels, 20 train records with imported labels, a few labeled by
    two annotators (one disagreement), scored, held, flagged and suspected."""
    rows = sst2_rows("dev", 60)
    rows[0]["text"] = "An utterly zyzzyva film, with charming films inside"
    run_import(project, as_jsonl(rows[:40], drop=("label",)))
    run_import(project, as_jsonl(rows[40:]), split=Split.TRAIN)
    pool = list(Record.objects.filter(project=project, split=Split.POOL).order_by("id"))
    train = list(Record.objects.filter(project=project, split=Split.TRAIN).order_by("id"))
    other = member(Role.ANNOTATOR, "otto")
    for record, (first, second) in zip(
        pool[:4], [("positive", "positive"), ("negative", "positive"), ("negative", None),
                   ("positive", None)], strict=True,
    ):  # fmt: skip
        Annotation.objects.create(record=record, project=project, value=first,
                                  source=Source.HUMAN, author=annotator)  # fmt: skip
        if second:
            Annotation.objects.create(record=record, project=project, value=second,
                                      source=Source.HUMAN, author=other)  # fmt: skip
    noise_job = job_create(project=project, kind=Job.Kind.NOISE)
    NoiseFlag.objects.create(job=noise_job, record=train[0], given_label="positive",
                             suggested_label="negative", label_quality=0.1)  # fmt: skip
    for i, record in enumerate(pool[10:20]):
        Score.objects.create(record=record, kind=TOXICITY_KIND, value=i / 10, model_identity="t")
    Record.objects.filter(pk__in=[r.pk for r in pool[15:20]]).update(held=True, held_reason="tox")
    Comment.objects.create(record=pool[5], project=project, author=annotator, flag=True, text="?")
    return {"pool": pool, "train": train, "other": other, "noise_job": noise_job}


@pytest.mark.django_db
def test_filters_combine(project, curator_user, annotator, data):
    pool, train = data["pool"], data["train"]
    find = lambda **f: ids(filtered_records(project, curator_user, RecordFilters(**f)))  # noqa: E731
    assert len(find()) == 60
    positive_train = {r.pk for r in train if Annotation.objects.get(record=r).value == "positive"}
    assert find(split="train", label="positive") == positive_train
    assert find(label="positive", source="human") == {pool[0].pk, pool[1].pk, pool[3].pk}
    assert find(annotator=annotator.pk) == {r.pk for r in pool[:4]}
    assert find(annotator=annotator.pk, label="negative") == {pool[1].pk, pool[2].pk}
    assert find(agreement="disagree") == {pool[1].pk}
    assert find(agreement="multiple") == {pool[0].pk, pool[1].pk}
    assert find(held=True) == {r.pk for r in pool[15:20]}
    toxic = ScoreRange(TOXICITY_KIND, low=0.35, high=0.75)
    assert find(scores=(toxic,)) == {r.pk for r in pool[14:18]}
    assert find(scores=(toxic,), held=False) == {pool[14].pk}
    assert find(noise=True) == {train[0].pk}
    assert find(noise_job=data["noise_job"].pk, split="train") == {train[0].pk}
    assert find(flagged=True) == {pool[5].pk}
    labeled = find(status="labeled")
    assert labeled == {r.pk for r in pool[:4]} | {r.pk for r in train}
    assert find(status="unlabeled") == find() - labeled
    # Held records wait for a curator, not for annotators: the queue's "waiting" leaves them out.
    assert find(status="waiting", held=True) == set()
    assert find(status="waiting") and not find(status="waiting") & {r.pk for r in pool[15:20]}


@pytest.mark.django_db
def test_full_text_search_finds_words_and_their_forms(project, curator_user, data):
    def search(q: str) -> set[int]:
        return ids(filtered_records(project, curator_user, RecordFilters(q=q)))

    zyzzyva = data["pool"][0].pk
    assert search("zyzzyva") == {zyzzyva}
    assert search("ZYZZYVA charming") == {zyzzyva}  # every word, any case
    assert search("zyzzyva -charming") == set()  # websearch syntax: minus excludes
    assert zyzzyva in search("charm")  # stemmed: "charming" is found by "charm"
    assert (
        search(
            "zyzzyva",
        )
        & ids(Record.objects.filter(split=Split.TRAIN))
        == set()
    )
    # Combined with a filter, on the payload's strings only (not its keys).
    assert search("text") == set()
    assert ids(filtered_records(project, curator_user, RecordFilters(q="zyzzyva", split="train"))
               ) == set()  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("sort", ["id", "-id", "-priority", "toxicity", "-toxicity"])
def test_keyset_pages_are_stable_and_complete(project, curator_user, data, sort):
    # Ties on the sort key (many records share a priority) are broken by id.
    Record.objects.filter(pk__in=[r.pk for r in data["pool"][:30:3]]).update(priority=0.5)
    order = Sort.parse(sort)
    everything = records_page(project, curator_user, RecordFilters(), order, limit=1000).records
    seen: list[int] = []
    cursor: Cursor | None = None
    new = None
    while True:
        page = records_page(project, curator_user, RecordFilters(), order, cursor, limit=7)
        seen += [r.pk for r in page.records]
        if new is None:  # a record arriving between two pages never shifts what follows
            new = Record.objects.create(project=project, payload={"text": "new"},
                                        content_hash="n" * 64, priority=0.5)  # fmt: skip
        if page.next_cursor is None:
            break
        cursor = Cursor.parse(str(page.next_cursor))  # through the URL and back
    # Nothing skipped, nothing twice; the newcomer shows where it sorts, if after the cursor.
    assert [pk for pk in seen if pk != new.pk] == [r.pk for r in everything]
    assert len(set(seen)) == len(seen)
    if "toxicity" in sort:
        assert len(everything) == 10  # sorting by a score shows the records that have it


@pytest.mark.django_db
def test_bulk_actions_on_a_filtered_set_and_a_selection(project, curator_user, annotator, data):
    pool, train = data["pool"], data["train"]
    held = filtered_records(project, curator_user, RecordFilters(held=True))
    result = records_bulk_act(project=project, user=curator_user, action="clear", records=held,
                              described={"held": "yes"})  # fmt: skip
    assert result.count == 5 and not Record.objects.filter(project=project, held=True).exists()
    event = AuditEvent.objects.filter(action="records.clear").get()
    assert event.actor == curator_user and event.details["filters"] == {"held": "yes"}

    scored = filtered_records(
        project, curator_user, RecordFilters(scores=(ScoreRange(TOXICITY_KIND, low=0.5),))
    )
    assert records_bulk_act(project=project, user=curator_user, action="hold",
                            records=scored).count == 5  # fmt: skip
    assert ids(Record.objects.filter(held=True)) == {r.pk for r in pool[15:20]}

    chosen = filtered_records(project, curator_user, RecordFilters(ids=(pool[30].pk,)))
    records_bulk_act(project=project, user=curator_user, action="prioritise", records=chosen)
    assert Record.objects.get(pk=pool[30].pk).priority == REQUEUED_PRIORITY
    # The front of the queue: the next annotator asking gets it.
    newcomer = data["other"]
    assert next_assignment(project, newcomer).record_id == pool[30].pk

    # Gold: records with a training label move with it as their truth; others are skipped.
    pick = filtered_records(project, curator_user, RecordFilters(ids=(train[1].pk, pool[20].pk)))
    result = records_bulk_act(project=project, user=curator_user, action="gold", records=pick)
    assert result.count == 1 and "1 without a label skipped" in result.message
    assert Record.objects.get(pk=train[1].pk).split == Split.GOLD
    assert Annotation.objects.filter(record=train[1], source=Source.REVIEW).count() == 1
    assert Record.objects.get(pk=pool[20].pk).split == Split.POOL

    # A job on chosen records carries them; the job kind checks them.
    job = records_bulk_act(project=project, user=curator_user, action="model_job",
                           records=chosen, job_kind="toxicity").job  # fmt: skip
    assert job is not None and job.params == {"record_ids": [pool[30].pk]}
    with pytest.raises(BulkRefused):
        records_bulk_act(project=project, user=curator_user, action="model_job", records=chosen,
                         job_kind="round")  # fmt: skip


@pytest.mark.django_db
def test_assigned_records_go_to_their_annotators_only(project, curator_user, annotator, data):
    target = data["pool"][35]
    Record.objects.filter(pk=target.pk).update(priority=REQUEUED_PRIORITY)  # everyone's first
    records = filtered_records(project, curator_user, RecordFilters(ids=(target.pk,)))
    stranger = User.objects.create(username="stranger")
    with pytest.raises(BulkRefused, match="not members"):
        records_bulk_act(project=project, user=curator_user, action="assign", records=records,
                         annotators=[stranger])  # fmt: skip
    records_bulk_act(project=project, user=curator_user, action="assign", records=records,
                     annotators=[annotator])  # fmt: skip
    assert RecordAssignee.objects.filter(record=target, annotator=annotator).exists()
    # Someone else asking first does not get it, though it has the highest priority.
    assert next_assignment(project, data["other"]).record_id != target.pk
    assert next_assignment(project, annotator).record_id == target.pk


@pytest.mark.django_db
def test_annotators_see_only_their_records_and_cannot_act(client, project, annotator, data):
    mine = {r.pk for r in data["pool"][:4]}
    assert ids(visible_records(project, annotator)) == mine
    assert ids(filtered_records(project, annotator, RecordFilters(split="train"))) == set()
    with pytest.raises(PermissionDenied):
        records_bulk_act(project=project, user=annotator, action="hold",
                         records=Record.objects.filter(project=project))  # fmt: skip
    client.force_login(annotator)
    page = client.get(f"/p/{project.slug}/records/")
    assert page.status_code == 200
    shown = {int(pk) for pk in page.content.decode().split('data-record="')[1:] for pk in
             [pk.split('"')[0]]}  # fmt: skip
    assert shown == mine and b'name="ids"' not in page.content
    assert client.post(f"/p/{project.slug}/records/bulk/",
                       {"action": "hold", "scope": "filtered"}).status_code == 403  # fmt: skip
    assert client.get(f"/p/{project.slug}/export/?output=csv&shape=full").status_code == 403
    assert not Record.objects.filter(held=True).exclude(held_reason="tox").exists()


@pytest.mark.django_db
def test_data_manager_page_filters_in_the_url_and_escapes_text(client, project, curator_user):
    rows = sst2_rows("dev", 5)
    rows[0]["text"] = "<script>alert(1)</script> markup"
    run_import(project, as_jsonl(rows), split=Split.TRAIN)
    client.force_login(curator_user)
    page = client.get(f"/p/{project.slug}/records/?q=markup&cols=text&cols=label")
    body = page.content.decode()
    assert page.status_code == 200 and body.count('data-record="') == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt; markup" in body and "<script>alert(1)" not in body
    count = client.get(f"/p/{project.slug}/records/count/?q=markup&cols=text")
    assert "1 record matches the filters" in count.content.decode()
    everything = client.get(f"/p/{project.slug}/records/count/").content.decode()
    assert "5 records" in everything and "match" not in everything
    bad = client.get(f"/p/{project.slug}/records/?score_min=2&score_max=1&score=toxicity")
    assert bad.status_code == 400 and "upper bound" in bad.content.decode()
    assert client.get(f"/p/{project.slug}/records/?after=nonsense").status_code == 400


@pytest.mark.django_db
def test_bulk_form_acts_on_every_filtered_record(client, project, curator_user, data):
    client.force_login(curator_user)
    response = client.post(f"/p/{project.slug}/records/bulk/", {
        "action": "hold", "scope": "filtered", "query": "split=train&label=negative",
    })  # fmt: skip
    assert response.status_code == 302 and "split=train" in response["Location"]
    negative = {r.pk for r in data["train"] if Annotation.objects.get(record=r).value == "negative"}
    assert ids(Record.objects.filter(project=project, held=True).exclude(held_reason="tox")) == (
        negative
    )
    # A search narrows the set an action takes, like any other filter.
    client.post(f"/p/{project.slug}/records/bulk/", {
        "action": "prioritise", "scope": "filtered", "query": "q=zyzzyva",
    })  # fmt: skip
    assert list(Record.objects.filter(priority=REQUEUED_PRIORITY)) == [data["pool"][0]]
    # Selected rows without a selection: refused, nothing done.
    client.post(f"/p/{project.slug}/records/bulk/", {"action": "clear", "scope": "selected"})
    assert Record.objects.filter(project=project, held=True).count() == len(negative) + 5
    response = client.post(f"/p/{project.slug}/records/bulk/", {
        "action": "assign", "scope": "filtered", "annotators": "nobody", "query": "",
    }, follow=True)  # fmt: skip
    assert "no such user(s): nobody" in response.content.decode()
    # Whatever comes back as the view's query string is re-encoded into the redirect.
    response = client.post(f"/p/{project.slug}/records/bulk/", {
        "action": "hold", "scope": "selected", "query": "split=train\r\nSet-Cookie: x=1",
    })  # fmt: skip
    assert response.status_code == 302 and "\n" not in response["Location"]


def _archive(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.content[:300]
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


@pytest.mark.django_db
def test_export_download_writes_the_filtered_set_with_its_manifest(client, project, curator_user,
                                                                   data):  # fmt: skip
    client.force_login(curator_user)
    url = f"/p/{project.slug}/export/"
    archive = _archive(client.get(url, {"output": "csv", "shape": "full", "scope": "filtered",
                                        "split": "train", "label": "positive"}))  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(archive.read("data.csv").decode())))
    manifest = json.loads(archive.read("manifest.json"))
    assert {r["label"] for r in rows} == {"positive"} and len(rows) == manifest["rows"] > 0
    assert {"label_source", "review", "held"} <= set(rows[0])
    assert manifest["filters"] == {"split": "train", "label": "positive"}
    selected = f"{data['train'][2].pk},{data['train'][3].pk}"
    archive = _archive(client.get(url, {"output": "jsonl", "shape": "text_label",
                                        "scope": "selected", "ids": selected}))  # fmt: skip
    lines = [json.loads(line) for line in archive.read("data.jsonl").decode().splitlines()]
    assert [set(line) for line in lines] == [{"record_id", "text", "label"}] * 2
    assert client.get(url, {"output": "csv", "shape": "full", "export_round": 9}).status_code == 404
    assert client.get(url, {"output": "xml", "shape": "full"}).status_code == 400
    assert client.get(url, {"output": "csv", "shape": "dpo"}).status_code == 400


@pytest.mark.django_db
def test_pairwise_csv_has_prompt_responses_and_dpo_leaves_ties_out(client, admin_user, tmp_path):
    from curator import public_data

    project = project_create(name="Pairs", task_type="pairwise", labels=[], created_by=admin_user)
    pairs = public_data.hh_pairs(6)
    rows = [{**{k: v for k, v in p.items() if k != "preferred"},
             "label": {"choice": "tie" if i == 0 else p["preferred"]}}
            for i, p in enumerate(pairs)]  # fmt: skip
    run_import(project, as_jsonl(rows), split=Split.TRAIN)
    client.force_login(admin_user)
    url = f"/p/{project.slug}/export/"
    archive = _archive(client.get(url, {"output": "csv", "shape": "full", "scope": "all"}))
    table = list(csv.DictReader(io.StringIO(archive.read("data.csv").decode())))
    assert len(table) == 6
    assert {"prompt", "response_a", "response_b", "choice", "label_source", "held"} <= set(table[0])
    assert all(r["prompt"] and r["response_a"] and r["response_b"] for r in table)
    # A job that does not fit the task type is refused with a message, nothing started.
    response = client.post(f"/p/{project.slug}/records/bulk/", {
        "action": "model_job", "job_kind": "prelabel", "scope": "filtered", "query": "",
    }, follow=True)  # fmt: skip
    assert "Nothing done:" in response.content.decode()
    assert not Job.objects.filter(project=project, kind="prelabel").exists()
    archive = _archive(client.get(url, {"output": "jsonl", "shape": "dpo", "scope": "all"}))
    lines = [json.loads(line) for line in archive.read("data.jsonl").decode().splitlines()]
    assert len(lines) == 5 and all(set(x) == {"record_id", "prompt", "chosen", "rejected"}
                                   for x in lines)  # fmt: skip


@pytest.mark.django_db
def test_sorting_by_a_score_uses_each_records_latest_score_once(project, curator_user, data):
    pool = data["pool"]
    # A second toxicity model scored one record later: that score is the one it sorts by.
    Score.objects.create(record=pool[10], kind=TOXICITY_KIND, value=0.95, model_identity="t2")
    page = records_page(project, curator_user, RecordFilters(), Sort.parse("-toxicity"))
    pks = [r.pk for r in page.records]
    assert pks[0] == pool[10].pk and pks.count(pool[10].pk) == 1 and len(pks) == 10
    assert page.records[0].sort_value == 0.95


@pytest.mark.django_db
@pytest.mark.parametrize("task_type", ["multilabel", "pairwise", "span", "rating"])
def test_label_filter_reads_each_task_types_stored_value(admin_user, task_type):
    from curator.hashing import content_hash
    from tests.test_task_type_registry import EXAMPLES

    labels, payload, _, value = EXAMPLES[task_type]
    project = project_create(name=task_type, task_type=task_type, labels=labels,
                             created_by=admin_user)  # fmt: skip
    field = "prompt" if "prompt" in payload else "text"
    other = {**payload, field: "other"}
    labeled = Record.objects.create(project=project, payload=payload,
                                    content_hash=content_hash(payload))  # fmt: skip
    Record.objects.create(project=project, payload=other, content_hash=content_hash(other))
    Annotation.objects.create(record=labeled, project=project, value=value, source=Source.IMPORT)
    wanted = {"multilabel": "economy", "pairwise": "b", "span": "ORG", "rating": "4"}[task_type]
    absent = {"multilabel": "sports", "pairwise": "a", "span": "LOC", "rating": "2"}[task_type]
    find = lambda label: ids(filtered_records(project, admin_user, RecordFilters(label=label)))  # noqa: E731
    assert find(wanted) == {labeled.pk} and find(absent) == set()


@pytest.mark.django_db(transaction=True)
def test_a_model_job_started_on_a_filtered_set_scores_only_those(celery_worker, client, admin_user,
                                                                 curator_user):  # fmt: skip
    from curator.models import Membership
    from tests.conftest import wait_for_job

    project = project_create(
        name="Tweets", labels=["negative", "positive"], created_by=admin_user,
        settings={"gold_rate": 0, "score_toxicity_on_import": False},
    )  # fmt: skip
    Membership.objects.create(user=curator_user, project=project, role=Role.CURATOR)
    rows = sst2_rows("dev", 30)
    run_import(project, as_jsonl(rows[:20]), split=Split.TRAIN)
    run_import(project, as_jsonl(rows[20:], drop=("label",)))
    client.force_login(curator_user)
    response = client.post(f"/p/{project.slug}/records/bulk/", {
        "action": "model_job", "job_kind": "toxicity", "scope": "filtered",
        "query": "split=train&label=positive",
    }, follow=True)  # fmt: skip
    assert "job" in response.content.decode() and "started on" in response.content.decode()
    job = wait_for_job(Job.objects.get(project=project, kind="toxicity").pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    positive = {r.pk for r in Record.objects.filter(project=project, split=Split.TRAIN)
                if Annotation.objects.get(record=r).value == "positive"}  # fmt: skip
    scored = set(Score.objects.filter(job=job).values_list("record_id", flat=True))
    assert scored == positive and positive
