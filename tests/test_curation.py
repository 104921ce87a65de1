"""Curation through the real worker and the bundled models: filters and their revert, label
noise with relabel precision, generated batches from creation to approval."""

from __future__ import annotations

import random

import numpy as np
import pytest

from annotation.labels import training_labels
from annotation.models import Annotation, Source
from annotation.services.annotations import annotation_submit
from annotation.services.assignment import next_assignment
from curator import public_data
from curator.algorithms import curation
from curator.models import (
    FilterDecision,
    Job,
    LineageEdge,
    NoiseFlag,
    Record,
    ReviewState,
    Role,
    Score,
    Split,
)
from curator.services.rounds import round_start
from tests.conftest import as_jsonl, sst2_rows, wait_for_job
from tests.test_imports import run_import
from tests.test_model_jobs import start

pytestmark = pytest.mark.django_db(transaction=True)


# --- filters ------------------------------------------------------------------------------------

BASE = "the performances are strong and the script keeps surprising you until the very end"
CRAFTED = [
    {"text": BASE, "label": "positive"},
    {"text": BASE.upper() + "!!", "label": "positive"},  # exact, once normalised
    {"text": BASE.replace("very end", "very last"), "label": "positive"},  # near duplicate
    {"text": "ok", "label": "negative"},  # too short
    {"text": "a film a film a film a film a film a film", "label": "negative"},  # repetitive
]


def test_filters_drop_what_they_should_keep_the_rest_and_revert(
    celery_worker, client, project, curator_user
):
    rows = CRAFTED + sst2_rows("dev", 30)
    run_import(project, as_jsonl(rows), split=Split.TRAIN)
    client.force_login(curator_user)
    filters = {
        "exact": {},
        "length": {"min_words": 3, "min_unique_words": 3},
        "near_duplicate": {"threshold": 0.7},
        "semantic": {"threshold": 0.97},
    }
    job = start(client, project, "filter", filters=filters)
    assert job.status == Job.Status.SUCCEEDED, job.error
    by_text = {r.payload["text"]: r for r in Record.objects.filter(project=project)}
    decisions = {d.record.payload["text"]: d for d in FilterDecision.objects.filter(job=job)}
    assert decisions[CRAFTED[1]["text"]].filter == "exact"
    assert decisions[CRAFTED[1]["text"]].evidence["duplicate_of"] == by_text[BASE].pk
    assert decisions[CRAFTED[2]["text"]].filter == "near_duplicate"
    assert decisions[CRAFTED[3]["text"]].filter == "length"
    assert decisions[CRAFTED[4]["text"]].filter == "length"
    assert "distinct words" in decisions[CRAFTED[4]["text"]].reason
    assert BASE not in decisions  # the first copy is kept
    real = {r["text"] for r in sst2_rows("dev", 30)}
    assert not real & set(decisions), "real sentences must survive these filters"
    assert job.metrics["removed"]["exact"] == 1 and job.metrics["kept"] == len(rows) - 4
    trained = training_labels(project)
    assert not {d.record_id for d in decisions.values()} & set(trained)
    report = client.get(f"/p/{project.slug}/filters/{job.pk}/").content.decode()
    assert "near duplicate" in report and "removed by length" in report

    response = client.post(f"/api/projects/{project.slug}/filters/{job.pk}/revert/")
    assert response.json() == {"restored": 4}
    assert {d.record_id for d in decisions.values()} <= set(training_labels(project))
    assert FilterDecision.objects.filter(job=job).count() == 4  # the history stays


def test_perplexity_filter_measures_with_the_bundled_llm(project):
    """The filter's evidence is the LLM's perplexity of each text; everything above the bound
    goes, everything at or below stays. (The bound here is the median: with a 135M model,
    perplexity tracks length and rare words more than quality; set a larger LLM for real use.)"""
    from workers.inference.llm import get_llm
    from workers.jobs.filters import filter_run

    rows = sst2_rows("dev", 12)
    run_import(project, as_jsonl(rows), split=Split.TRAIN)
    texts = [r["text"] for r in rows]
    measured = np.exp(get_llm().response_nll(None, texts))
    bound = float(np.median(measured))
    job = Job.objects.create(
        project=project,
        kind=Job.Kind.FILTER,
        status=Job.Status.RUNNING,
        params={"filters": {"perplexity": {"max": bound}}},
    )
    metrics = filter_run(job)
    dropped = {d.record.payload["text"]: d for d in FilterDecision.objects.filter(job=job)}
    assert metrics["removed"]["perplexity"] == len(dropped) == int((measured > bound).sum())
    for text, value in zip(texts, measured, strict=True):
        if value > bound:
            assert dropped[text].evidence["perplexity"] == pytest.approx(value, rel=1e-3)
        else:
            assert text not in dropped


def test_instruction_following_difficulty_flags_mismatched_pairs():
    """IFD with the bundled LLM: a response under someone else's instruction is harder to
    predict from it than under its own."""
    from workers.inference.llm import get_llm

    rows = public_data.alpaca(8)
    llm = get_llm()
    prompts = [[{"role": "user", "content": r["prompt"]}] for r in rows]
    matched = [r["draft"] for r in rows]
    mismatched = matched[1:] + matched[:1]

    def ifd(responses):
        return np.exp(llm.response_nll(prompts, responses) - llm.response_nll(None, responses))

    assert ifd(mismatched).mean() > ifd(matched).mean()
    assert (ifd(matched) < 1).all()


def test_bad_filter_settings_are_refused_before_queueing(client, project, curator_user):
    client.force_login(curator_user)
    for filters, message in (
        ({"minhash": {}}, "unknown filter"),
        ({"length": {"min_words": -1}}, "non-negative"),
        ({"near_duplicate": {"treshold": 0.8}}, "unknown option"),
    ):
        response = client.post(
            f"/api/projects/{project.slug}/jobs/",
            {"kind": "filter", "params": {"filters": filters}},
            content_type="application/json",
        )
        assert response.status_code == 409 or response.status_code == 400, response.content
        assert message in response.content.decode()
    assert not Job.objects.filter(kind=Job.Kind.FILTER).exists()


def test_near_and_semantic_dedup_on_real_text():
    sentences = [t for t, _ in public_data.sst2("dev", 200)]
    ids = list(range(len(sentences)))
    copies = sentences + [s.replace(" the ", " a ", 1) for s in sentences[:20]]
    drops = curation.near_duplicates(copies, [*ids, *range(1000, 1020)], threshold=0.6)

    def jaccard(a: str, b: str) -> float:
        x, y = curation.shingles(a), curation.shingles(b)
        return len(x & y) / len(x | y)

    # MinHash estimates Jaccard; a margin of 0.15 above the threshold is always found.
    clear = {200 + i for i, s in enumerate(sentences[:20]) if jaccard(s, copies[200 + i]) >= 0.75}
    assert len(clear) >= 10
    assert {d.index for d in drops} >= clear
    assert all(d.index >= 200 for d in drops), "no original sentence is a near duplicate"
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 16))
    vectors = np.vstack([vectors, vectors[:5] + 1e-4])
    semantic = curation.semantic_duplicates(vectors, list(range(55)), threshold=0.999)
    assert [d.index for d in semantic] == [50, 51, 52, 53, 54]
    assert [d.evidence["duplicate_of"] for d in semantic] == [0, 1, 2, 3, 4]


# --- label noise --------------------------------------------------------------------------------


def test_noise_detection_finds_injected_flips_and_relabels_measure_its_precision(
    celery_worker, client, project, curator_user, member
):
    rows = sst2_rows("dev", 300)
    rng = random.Random(0)
    flipped = set(rng.sample(range(len(rows)), 30))
    truth = {r["text"]: r["label"] for r in rows}
    noisy = [
        {**r, "label": ("negative" if r["label"] == "positive" else "positive")}
        if i in flipped
        else r
        for i, r in enumerate(rows)
    ]
    run_import(project, as_jsonl(noisy), split=Split.TRAIN)
    client.force_login(curator_user)
    job = start(client, project, "noise")
    assert job.status == Job.Status.SUCCEEDED, job.error
    flags = list(NoiseFlag.objects.filter(job=job).select_related("record"))
    flipped_texts = {rows[i]["text"] for i in flipped}
    hits = sum(f.record.payload["text"] in flipped_texts for f in flags)
    assert job.metrics["flagged"] == len(flags) > 0
    assert hits / len(flags) > 0.2, "flags are far better than the 10% base rate"
    assert hits / len(flipped) > 0.3
    # Flagged records went back to people, first in line, and people relabel them.
    relabeler = member(Role.ANNOTATOR, "rita")
    for _ in flags:
        assignment = next_assignment(project, relabeler)
        assert assignment.record_id in {f.record_id for f in flags}
        annotation_submit(
            assignment=assignment, user=relabeler, value=truth[assignment.record.payload["text"]]
        )
    report = client.get(f"/api/projects/{project.slug}/noise/").json()
    assert report["open"] == 0 and report["flags"] == len(flags)
    assert report["precision"] == pytest.approx(hits / len(flags))


@pytest.mark.parametrize("data", ["sst2", "tweets"])
def test_noise_default_flags_flipped_labels_on_real_multi_class_data(data):
    """The noise job's defaults (cleanlab's filter, out-of-fold ensemble) on 500 real records with
    10% of the labels flipped to another class: F1 of the order bench/curation.py measures on
    4,000 (0.52 SST-2, 0.72 tweets; less on fewer records), far above the 0.18 of flagging at
    random."""
    from curator.algorithms import learning
    from workers.inference.encoder import get_encoder

    if data == "sst2":
        rows = [(r["text"], r["label"]) for r in sst2_rows("dev", 500)]
    else:
        rows = [(r["text"], r["label"]) for r in public_data.tweets(500)]
    classes = sorted({label for _, label in rows})
    rng = np.random.default_rng(0)
    flipped = set(rng.choice(len(rows), len(rows) // 10, replace=False).tolist())
    given = [
        str(rng.choice([c for c in classes if c != label])) if i in flipped else label
        for i, (_, label) in enumerate(rows)
    ]
    features = get_encoder().encode([text for text, _ in rows])
    found_classes, probabilities = learning.out_of_fold_probabilities(
        features, given, repeats=curation.NOISE_OOF_REPEATS, neighbours=curation.NOISE_NEIGHBOURS
    )
    issues = curation.label_issues(given, found_classes, probabilities)
    found = {issue.index for issue in issues}
    hits = len(found & flipped)
    precision, recall = hits / len(found), hits / len(flipped)
    assert 2 * precision * recall / (precision + recall) > 0.25, (precision, recall)
    assert precision > 0.15 and recall > 0.4  # base rate 0.10
    assert all(given[i.index] == i.given for i in issues)


# --- generated batches --------------------------------------------------------------------------


@pytest.fixture
def seeded(project):
    project.settings = {**project.settings, "score_toxicity_on_import": False}
    project.save()
    rows = [r for r in sst2_rows("dev", 120) if 8 <= len(r["text"].split()) <= 20][:16]
    run_import(project, as_jsonl(rows), split=Split.TRAIN)
    return project


def test_generated_batch_from_creation_to_approval(celery_worker, client, seeded, curator_user):
    project = seeded
    client.force_login(curator_user)
    job = start(client, project, "generate", generator="instruction", count=4, chunk_size=2)
    assert job.status == Job.Status.SUCCEEDED, job.error
    items = list(Record.objects.filter(created_by_job=job).order_by("id"))
    assert 1 <= len(items) <= 4
    seeds = {int(pk) for pk in job.params["seed_labels"]}
    for item in items:
        assert item.review == ReviewState.PENDING and item.origin == "synthetic"
        edge = LineageEdge.objects.get(child=item)
        assert edge.parent_id in seeds and edge.job_id == job.pk
        intended = Annotation.objects.get(record=item, source=Source.LLM, job=job).value
        assert intended == job.params["seed_labels"][str(edge.parent_id)]
        kinds = set(Score.objects.filter(record=item).values_list("kind", flat=True))
        assert {"toxicity", "generation_quality", "near_duplicate"} <= kinds
    assert "SmolLM2" in job.params["llm"] and "{label}" in job.params["template"]
    assert job.metrics["items"] == len(items) and job.metrics["pending"] == len(items)
    # Nothing unapproved trains.
    assert not {i.pk for i in items} & set(training_labels(project))
    assert next_assignment(project, curator_user) is None  # nor goes to annotators

    page = client.get(f"/p/{project.slug}/batches/{job.pk}/").content.decode()
    assert "Approve" in page and items[0].payload["text"][:20].replace("'", "&#x27;") in page
    first, *rest = items
    approved = client.post(
        f"/api/projects/{project.slug}/records/{first.pk}/review-item/", {"decision": "approve"}
    )
    assert approved.status_code == 200 and approved.json()["review"] == "approved"
    assert first.pk in training_labels(project)
    if rest:
        refused = client.post(
            f"/api/projects/{project.slug}/records/{rest[0].pk}/review-item/",
            {"decision": "reject"},
        )
        assert refused.status_code == 400 and "say why" in refused.content.decode()
        edited = client.post(
            f"/api/projects/{project.slug}/records/{rest[0].pk}/review-item/",
            {"decision": "edit", "text": "a warm , funny and sharply written film ."},
        ).json()
        assert edited["id"] != rest[0].pk and edited["origin"] == "edit"
        assert LineageEdge.objects.filter(
            parent_id=rest[0].pk, child_id=edited["id"], operation="edit"
        ).exists()
        assert Record.objects.get(pk=rest[0].pk).review == ReviewState.REJECTED
        assert edited["id"] in training_labels(project)
    bulk = client.post(
        f"/api/projects/{project.slug}/batches/{job.pk}/bulk/",
        {"decision": "reject", "threshold": 6},
        content_type="application/json",
    ).json()
    assert bulk["stats"]["pending"] == 0


def test_rewrites_keep_the_label_and_adversarial_edits_flip_it(
    celery_worker, client, seeded, admin_user, curator_user
):
    project = seeded
    client.force_login(curator_user)
    rewrite = start(client, project, "generate", generator="rewrite", count=2)
    assert rewrite.status == Job.Status.SUCCEEDED, rewrite.error
    round_ = round_start(project=project, user=admin_user)
    trained = wait_for_job(Job.objects.get(round=round_).pk)
    assert trained.status == Job.Status.SUCCEEDED, trained.error
    # Four seeds: the 135M LLM sometimes hands a seed back unchanged, which stores no item.
    adversarial = start(client, project, "generate", generator="adversarial", count=4)
    assert adversarial.status == Job.Status.SUCCEEDED, adversarial.error
    assert Record.objects.filter(created_by_job=adversarial).exists(), adversarial.metrics
    for job, keeps in ((rewrite, True), (adversarial, False)):
        for item in Record.objects.filter(created_by_job=job):
            edge = LineageEdge.objects.get(child=item)
            seed_label = job.params["seed_labels"][str(edge.parent_id)]
            intended = Annotation.objects.get(record=item, job=job).value
            assert (intended == seed_label) is keeps
            assert item.origin == "rewrite"
    # With a trained round the current model's agreement with the intent is scored too.
    assert Score.objects.filter(job=adversarial, kind="intent_agreement").exists()


def test_only_curators_review_and_annotators_cannot_start_generation(
    client, seeded, annotator, admin_user
):
    project = seeded
    item = Record.objects.create(
        project=project, payload={"text": "made up"}, content_hash="x" * 64, review="pending"
    )
    client.force_login(annotator)
    response = client.post(
        f"/api/projects/{project.slug}/records/{item.pk}/review-item/", {"decision": "approve"}
    )
    assert response.status_code == 403
    response = client.post(
        f"/api/projects/{project.slug}/jobs/",
        {"kind": "generate", "params": {"generator": "instruction"}},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert Record.objects.get(pk=item.pk).review == ReviewState.PENDING


ARTICLE = """The Lumière brothers held the first public film screening in Paris in December 1895.
Their short films showed everyday scenes such as workers leaving a factory.

Early audiences were astonished; some reports claim viewers ducked when a train approached
the camera. Within a few years, cinemas opened across Europe and America."""


def test_grounded_items_cite_their_passage(celery_worker, client, seeded, curator_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    project = seeded
    client.force_login(curator_user)
    response = client.post(
        f"/api/projects/{project.slug}/documents/",
        {"file": SimpleUploadedFile("cinema.md", ARTICLE.encode(), "text/markdown")},
    )
    assert response.status_code == 201 and response.json()["chunks"] >= 1
    bad = client.post(
        f"/api/projects/{project.slug}/documents/",
        {"file": SimpleUploadedFile("x.txt", b"\xff\xfe\x00bin", "text/plain")},
    )
    assert bad.status_code == 400 and "binary" in bad.content.decode()
    job = start(client, project, "generate", generator="grounded", count=2)
    assert job.status == Job.Status.SUCCEEDED, job.error
    items = list(Record.objects.filter(created_by_job=job))
    assert items, "the LLM wrote nothing usable"
    document = project.documents.get()
    for item in items:
        assert item.source["document"] == document.pk
        assert item.source["chunk"] < len(document.chunks)
        assert document.chunks[item.source["chunk"]][:40] in item.source["prompt"]
        assert item.review == ReviewState.PENDING


def test_documents_are_chunked_at_paragraphs_and_sentences():
    from curator.services.documents import chunk_text

    chunks = chunk_text(ARTICLE, size=200)
    assert all(len(c) <= 200 for c in chunks)
    assert " ".join(" ".join(chunks).split()) == " ".join(ARTICLE.split())
    assert chunks[0].startswith("The Lumière brothers")
