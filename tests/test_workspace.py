"""The annotation workspace end to end over HTTP: every task type, suggestions, undo and history,
skips and flags, gold checks, review and adjudication, agreement, competence, export."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from django.test import Client
from statsmodels.stats.inter_rater import fleiss_kappa

from annotation.labels import gold_labels, training_labels
from annotation.models import Annotation, Assignment, Comment, Source
from annotation.selectors import annotator_figures
from annotation.services.annotations import annotation_submit
from annotation.services.assignment import next_assignment
from curator import public_data
from curator.models import Membership, Record, Role, RoutingDecision, Split
from curator.services.projects import project_create
from tests.conftest import as_jsonl, sst2_rows
from tests.test_imports import run_import

HTMX = {"HTTP_HX_REQUEST": "true"}


def api(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_project(admin_user, task_type: str, labels: list, **settings):
    return project_create(
        name=f"{task_type} project",
        task_type=task_type,
        labels=labels,
        created_by=admin_user,
        settings={"gold_rate": 0, **settings},
    )


def join(project, make_user, role: str, name: str):
    user = make_user(name)
    Membership.objects.create(user=user, project=project, role=role)
    return user


def label_via_api(client: Client, project, value_for) -> list[Annotation]:
    """Label the whole queue through the API; value_for(payload) gives each label."""
    stored = []
    while True:
        response = client.post(f"/api/projects/{project.slug}/next/")
        if response.status_code == 204:
            return stored
        assignment = response.json()
        value = value_for(assignment["record"]["payload"])
        submitted = client.post(
            f"/api/projects/{project.slug}/assignments/{assignment['id']}/submit/",
            {"value": value, "seconds_spent": 2.5},
            content_type="application/json",
        )
        assert submitted.status_code == 201, submitted.content
        stored.append(Annotation.objects.get(pk=submitted.json()["id"]))


def export(client: Client, project) -> list[dict]:
    response = client.get(f"/api/projects/{project.slug}/export/")
    assert response.status_code == 200
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


# --- each task type through the API, then exported in its trainer's shape ----------------------


def tweet_topics(payload: dict) -> list[str]:
    """Every class at least one of the original crowd workers chose."""
    votes = payload["votes"]
    return [name for name in ("hate", "offensive", "neither") if votes[name]]


TASKS = {
    "multilabel": dict(
        labels=["hate", "offensive", "neither"],
        rows=lambda: public_data.tweets(12),
        value=tweet_topics,
        check=lambda row, payload: row["labels"] == tweet_topics(payload),
    ),
    "rating": dict(
        labels=[{"value": str(n), "name": f"{n} - rubric line {n}"} for n in range(1, 6)],
        rows=lambda: [{"text": r["draft"]} for r in public_data.alpaca(12)],
        value=lambda payload: str(1 + len(payload["text"]) % 5),
        check=lambda row, payload: row["rating"] == 1 + len(payload["text"]) % 5,
    ),
    "pairwise": dict(
        labels=[],
        rows=lambda: public_data.hh_pairs(12),
        value=lambda payload: {"choice": payload["preferred"], "reason": "less harmful"},
        check=lambda row, payload: (
            row["chosen"] == payload["response_" + payload["preferred"]]
            and row["rejected"]
            == payload["response_b" if payload["preferred"] == "a" else "response_a"]
            and row["prompt"] == payload["prompt"]
        ),
    ),
    "correction": dict(
        labels=[],
        rows=lambda: public_data.alpaca(12),
        value=lambda payload: {"text": payload["draft"].upper()},
        check=lambda row, payload: (
            row["response"] == payload["draft"].upper()
            and row["draft"] == payload["draft"]
            and row["messages"][1]["content"] == payload["draft"].upper()
        ),
    ),
    "span": dict(
        labels=["ASPECT", "OPINION"],
        rows=lambda: [{"text": t} for t, _ in public_data.sst2("dev", 12)],
        value=lambda payload: [
            {"start": 0, "end": len(payload["text"].split()[0]), "label": "ASPECT"}
        ],
        check=lambda row, payload: row["spans"][0]["text"] == payload["text"].split()[0],
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("task_type", sorted(TASKS))
def test_every_task_type_is_labeled_and_exported_through_the_api(task_type, admin_user, make_user):
    spec = TASKS[task_type]
    project = make_project(admin_user, task_type, spec["labels"])
    rows = spec["rows"]()
    run_import(project, as_jsonl(rows))
    annotator = join(project, make_user, Role.ANNOTATOR, f"{task_type}-annotator")
    stored = label_via_api(api(annotator), project, spec["value"])
    assert len(stored) == len(rows)
    exported = export(api(admin_user), project)
    assert len(exported) == len(rows)
    payloads = {r.pk: r.payload for r in Record.objects.filter(project=project)}
    for row in exported:
        assert spec["check"](row, payloads[row["record_id"]]), row
        assert row["label_source"] == "human"


@pytest.mark.django_db
def test_bad_values_are_refused_with_the_reason_and_the_record_stays_leased(admin_user, make_user):
    project = make_project(admin_user, "pairwise", [])
    run_import(project, as_jsonl(public_data.hh_pairs(3)))
    client = api(join(project, make_user, Role.ANNOTATOR, "pat"))
    assignment = client.post(f"/api/projects/{project.slug}/next/").json()
    url = f"/api/projects/{project.slug}/assignments/{assignment['id']}/submit/"
    refused = client.post(url, {"value": {"choice": "c"}}, content_type="application/json")
    assert refused.status_code == 400
    assert "a, b or tie" in json.dumps(refused.json())
    assert Annotation.objects.filter(project=project).count() == 0
    again = client.post(f"/api/projects/{project.slug}/next/").json()
    assert again["id"] == assignment["id"]


@pytest.mark.django_db
def test_structured_gold_labels_import_for_pairwise_projects(admin_user):
    project = make_project(admin_user, "pairwise", [])
    pairs = public_data.hh_pairs(6)
    rows = [{**p, "label": {"choice": p["preferred"]}} for p in pairs]
    _, result = run_import(project, as_jsonl(rows), split=Split.GOLD)
    assert result.labels == 6
    assert sorted(gold_labels(project).values()) == sorted(p["preferred"] for p in pairs)
    bad = [{**pairs[0], "prompt": "new", "label": {"choice": "maybe"}}]
    with pytest.raises(Exception, match="line 1: label"):
        run_import(project, as_jsonl(bad), split=Split.GOLD)


# --- suggestions ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_suggestions_are_shown_and_acceptance_is_recorded(project, annotator):
    run_import(project, as_jsonl(sst2_rows("dev", 3), drop=("label",)))
    records = list(Record.objects.filter(project=project).order_by("id"))
    for record in records[:2]:
        Annotation.objects.create(
            record=record, project=project, value="positive", source=Source.LLM, confidence=0.83
        )
    client = api(annotator)
    results = []
    for choice in ("positive", "negative", "negative"):
        card = client.get(f"/p/{project.slug}/annotate/next/", **HTMX).content.decode()
        assignment = Assignment.objects.get(annotator=annotator, state="leased")
        suggestion = Annotation.objects.filter(record=assignment.record, source=Source.LLM).first()
        if suggestion:
            assert "The LLM suggests" in card and "0.83" in card
        else:
            assert 'id="suggestion"' not in card
        data = {"label": choice, "seconds": "1.2"}
        if suggestion:
            data["suggestion"] = suggestion.pk
        client.post(f"/p/{project.slug}/annotate/{assignment.pk}/submit/", data, **HTMX)
        results.append(Annotation.objects.filter(author=annotator).latest("id").suggestion_accepted)
    assert results == [True, False, None]
    figures = {f.username: f for f in annotator_figures(project)}
    assert figures[annotator.username].acceptance == 0.5


@pytest.mark.django_db
def test_spot_checks_hide_the_model_suggestion(project, annotator):
    run_import(project, as_jsonl(sst2_rows("dev", 1), drop=("label",)))
    record = Record.objects.get(project=project)
    Annotation.objects.create(
        record=record, project=project, value="positive", source=Source.LLM, confidence=0.99
    )
    Record.objects.filter(pk=record.pk).update(route=RoutingDecision.Decision.SPOT_CHECK)
    card = api(annotator).get(f"/p/{project.slug}/annotate/next/", **HTMX).content.decode()
    assert "record-text" in card and 'id="suggestion"' not in card


# --- undo, history, skip reasons, flags -----------------------------------------------------------


@pytest.mark.django_db
def test_undo_and_history_edits_add_rows_and_training_uses_the_latest(project, annotator):
    rows = sst2_rows("dev", 3)
    rows[0]["text"] = "<img src=x onerror=alert(1)> a film"
    run_import(project, as_jsonl(rows, drop=("label",)))
    client = api(annotator)
    client.get(f"/p/{project.slug}/annotate/next/", **HTMX)
    first = Assignment.objects.get(annotator=annotator, state="leased")
    client.post(f"/p/{project.slug}/annotate/{first.pk}/submit/", {"label": "negative"}, **HTMX)
    original = Annotation.objects.get(author=annotator)

    card = client.get(f"/p/{project.slug}/annotate/undo/", **HTMX).content.decode()
    assert "Changing your label" in card and f"Record {original.record_id}" not in card
    assert f"annotate/edit/{original.pk}/revise/" in card
    client.post(
        f"/p/{project.slug}/annotate/edit/{original.pk}/revise/", {"label": "positive"}, **HTMX
    )
    revised = Annotation.objects.filter(author=annotator).latest("id")
    assert (revised.value, revised.supersedes_id) == ("positive", original.pk)
    assert Annotation.objects.get(pk=original.pk).value == "negative"  # never overwritten
    assert training_labels(project)[original.record_id] == (revised.pk, "positive")

    history = client.get(f"/p/{project.slug}/annotate/history/").content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in history and "<img src=x" not in history
    assert history.count("/revise/") == 0 and history.count("annotate/edit/") == 1
    assert "edited" in history
    # Editing an older version continues the chain from the latest one.
    client.post(
        f"/p/{project.slug}/annotate/edit/{original.pk}/revise/", {"label": "negative"}, **HTMX
    )
    assert Annotation.objects.filter(author=annotator).latest("id").supersedes_id == revised.pk


@pytest.mark.django_db
def test_someone_elses_label_cannot_be_revised(project, annotator, member):
    run_import(project, as_jsonl(sst2_rows("dev", 1), drop=("label",)))
    assignment = next_assignment(project, annotator)
    label = annotation_submit(assignment=assignment, user=annotator, value="positive")
    other = member(Role.ANNOTATOR, "mallory")
    response = api(other).post(
        f"/api/projects/{project.slug}/annotations/{label.pk}/revise/",
        {"value": "negative"},
        content_type="application/json",
    )
    assert response.status_code == 404
    assert Annotation.objects.filter(record=label.record).count() == 1


@pytest.mark.django_db
def test_skip_reason_and_flags_reach_curators(project, annotator, curator_user):
    run_import(project, as_jsonl(sst2_rows("dev", 3), drop=("label",)))
    client = api(annotator)
    client.get(f"/p/{project.slug}/annotate/next/", **HTMX)
    first = Assignment.objects.get(annotator=annotator, state="leased")
    client.post(f"/p/{project.slug}/annotate/{first.pk}/skip/", {"reason": "unclear"}, **HTMX)
    assert Assignment.objects.get(pk=first.pk).skip_reason == "unclear"
    second = Assignment.objects.get(annotator=annotator, state="leased")
    card = client.post(
        f"/p/{project.slug}/annotate/{second.pk}/comment/",
        {"text": "<b>sarcasm?</b>", "flag": "on"},
        **HTMX,
    ).content.decode()
    assert "Flagged for a curator" in card
    assert Assignment.objects.get(pk=second.pk).state == "leased"  # still theirs to label
    review = api(curator_user).get(f"/p/{project.slug}/review/").content.decode()
    assert "&lt;b&gt;sarcasm?&lt;/b&gt;" in review
    api(curator_user).post(f"/p/{project.slug}/review/{second.record_id}/send-back/")
    assert not Comment.objects.filter(flag=True, resolved_at__isnull=True).exists()


# --- gold checks ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_gold_records_are_mixed_in_and_graded_but_never_become_truth(project, annotator):
    run_import(project, as_jsonl(sst2_rows("dev", 40)[:30], drop=("label",)))
    gold_rows = sst2_rows("dev", 40)[30:]
    run_import(project, as_jsonl(gold_rows), split=Split.GOLD)
    truth = gold_labels(project)
    project.settings = {**project.settings, "gold_rate": 0.5}
    project.save()
    random.seed(7)
    wrong_on_purpose = 0
    while (assignment := next_assignment(project, annotator)) is not None:
        value = "positive"
        if assignment.record.split == Split.GOLD:
            value = truth[assignment.record_id]
            if wrong_on_purpose < 2:
                value = "negative" if value == "positive" else "positive"
                wrong_on_purpose += 1
        annotation_submit(assignment=assignment, user=annotator, value=value)
    checked = Annotation.objects.filter(author=annotator, record__split=Split.GOLD).count()
    assert checked == 10, "every gold record is eventually shown once"
    [figures] = annotator_figures(project)
    assert figures.gold_checked == 10 and figures.gold_correct == 8
    assert gold_labels(project) == truth  # people's answers on gold never replace the truth
    assert not set(training_labels(project)) & set(truth)


# --- review, adjudication, agreement, competence --------------------------------------------------


@pytest.mark.django_db
def test_curator_adjudicates_a_disagreement_and_sends_a_record_back(project, member, curator_user):
    project.settings = {**project.settings, "overlap": 2}
    project.save()
    run_import(project, as_jsonl(sst2_rows("dev", 2), drop=("label",)))
    alice, bob = member(Role.ANNOTATOR, "alice"), member(Role.ANNOTATOR, "bob")
    for user, labels in ((alice, ["positive", "negative"]), (bob, ["negative", "negative"])):
        for label in labels:
            annotation_submit(assignment=next_assignment(project, user), user=user, value=label)
    curator = api(curator_user)
    listed = curator.get(f"/api/projects/{project.slug}/disagreements/").json()
    assert len(listed) == 1
    record_id = listed[0]["record"]["id"]
    alices = next(x for x in listed[0]["labels"] if x["author"] == "alice")
    response = curator.post(
        f"/api/projects/{project.slug}/records/{record_id}/adjudicate/",
        {"adopt": alices["annotation_id"]},
        content_type="application/json",
    )
    assert response.status_code == 201
    review = Annotation.objects.get(pk=response.json()["id"])
    assert (review.source, review.value, review.author) == ("review", "positive", curator_user)
    assert set(review.adjudicates.values_list("id", flat=True)) == set(
        Annotation.objects.filter(record_id=record_id, source="human").values_list("id", flat=True)
    )
    assert training_labels(project)[record_id] == (review.pk, "positive")
    assert curator.get(f"/api/projects/{project.slug}/disagreements/").json() == []

    # Sent back: the slots free up, and the same people may be asked again, first in line.
    sent = curator.post(f"/api/projects/{project.slug}/records/{record_id}/send-back/")
    assert sent.status_code == 200
    assert Record.objects.get(pk=record_id).claimed_count == 0
    assert next_assignment(project, alice).record_id == record_id


@pytest.mark.django_db
def test_annotators_cannot_review(project, annotator):
    run_import(project, as_jsonl(sst2_rows("dev", 1), drop=("label",)))
    record = Record.objects.get(project=project)
    response = api(annotator).post(
        f"/api/projects/{project.slug}/records/{record.pk}/adjudicate/",
        {"value": "positive"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not Annotation.objects.filter(source=Source.REVIEW).exists()


@pytest.mark.django_db
def test_agreement_on_real_crowd_votes_matches_fleiss_on_the_vote_table(project, make_user):
    """Davidson et al. published three workers' votes per tweet: replayed as three annotators,
    the API's Fleiss' kappa must equal the kappa of the published vote table."""
    project = make_project(project.created_by, "classification", ["hate", "offensive", "neither"])
    tweets = [t for t in public_data.tweets(400) if sum(t["votes"].values()) == 3][:60]
    run_import(project, as_jsonl([{"text": t["text"]} for t in tweets]))
    coders = [join(project, make_user, Role.ANNOTATOR, f"worker{i}") for i in range(3)]
    by_text = {t["text"]: t for t in tweets}
    records = {r.pk: r.payload["text"] for r in Record.objects.filter(project=project)}
    for record_id, text in records.items():
        votes = [name for name, n in by_text[text]["votes"].items() for _ in range(n)]
        for coder, vote in zip(coders, votes, strict=True):
            Annotation.objects.create(
                record_id=record_id, project=project, value=vote, source="human", author=coder
            )
    table = np.array([[t["votes"][c] for c in ("hate", "offensive", "neither")] for t in tweets])
    report = api(project.created_by).get(f"/api/projects/{project.slug}/agreement/").json()
    assert report["units"] == 60
    assert report["fleiss_units"] == 60
    assert report["fleiss_kappa"] == pytest.approx(fleiss_kappa(table), abs=1e-9)
    assert len(report["pairs"]) == 3
    assert set(report["per_label"]) == {"hate", "offensive", "neither"}


@pytest.mark.django_db
def test_dawid_skene_consensus_trusts_the_careful_annotators(project, member):
    """Two careful annotators (right 95% and 90% of the time against the SST-2 label) and three
    who guess: the majority of five is often wrong, competence-weighted consensus less so."""
    rows = sst2_rows("dev", 120)
    run_import(project, as_jsonl(rows, drop=("label",)))
    truth = {r["text"]: r["label"] for r in rows}
    people = [(member(Role.ANNOTATOR, "careful1"), 0.95), (member(Role.ANNOTATOR, "careful2"), 0.9)]
    people += [(member(Role.ANNOTATOR, f"guesser{i}"), 0.5) for i in range(3)]
    rng = random.Random(1)
    for record in Record.objects.filter(project=project):
        right = truth[record.payload["text"]]
        wrong = "negative" if right == "positive" else "positive"
        for user, accuracy in people:
            Annotation.objects.create(
                record=record,
                project=project,
                value=right if rng.random() < accuracy else wrong,
                source="human",
                author=user,
            )
    texts = {r.pk: r.payload["text"] for r in Record.objects.filter(project=project)}

    def accuracy() -> float:
        labels = training_labels(project)
        return sum(label == truth[texts[pk]] for pk, (_, label) in labels.items()) / len(labels)

    majority = accuracy()
    project.settings = {**project.settings, "consensus": "dawid_skene"}
    project.save()
    weighted = accuracy()
    assert weighted > majority
    assert weighted >= 0.85
    competence = {f.username: f.competence for f in annotator_figures(project)}
    assert min(competence["careful1"], competence["careful2"]) > max(
        competence[f"guesser{i}"] for i in range(3)
    )
