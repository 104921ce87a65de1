"""Suggestions that help (issue 13): no "Enter accepts" on a guess near chance or on a verdict of
a position-biased judge; the suggested choice is marked on its own button."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from annotation.models import Annotation, Assignment, Source
from curator import public_data
from curator.algorithms.calibration import near_chance
from curator.models import Job, Membership, Record, Role, Round, RoutingDecision, Split
from curator.services.projects import project_create
from tests.conftest import as_jsonl, sst2_rows, wait_for_job
from tests.test_imports import run_import

HTMX = {"HTTP_HX_REQUEST": "true"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_near_chance_depends_on_the_number_of_choices():
    assert near_chance(0.52, 2, 0.1)  # a coin toss between two classes
    assert not near_chance(0.83, 2, 0.1)
    assert not near_chance(0.52, 5, 0.1)  # 0.52 among five is far above 0.2
    assert near_chance(0.25, 5, 0.1)
    assert not near_chance(0.1, 1, 0.1)  # one choice: no chance to compare with


def card_for(client, project) -> tuple[str, Assignment]:
    card = client.get(f"/p/{project.slug}/annotate/next/", **HTMX).content.decode()
    return card, Assignment.objects.get(state="leased", project=project)


@pytest.mark.django_db
def test_a_guess_near_chance_is_shown_muted_without_enter(project, annotator):
    run_import(project, as_jsonl(sst2_rows("dev", 2), drop=("label",)))
    first, second = Record.objects.filter(project=project).order_by("id")
    Annotation.objects.create(
        record=first, project=project, value="negative", source=Source.LLM, confidence=0.52
    )
    Annotation.objects.create(
        record=second, project=project, value="negative", source=Source.LLM, confidence=0.83
    )
    client = client_for(annotator)

    card, assignment = card_for(client, project)
    assert assignment.record_id == first.pk
    assert 'id="suggestion"' not in card and 'data-key="enter"' not in card
    assert 'name="suggestion"' not in card  # nothing to count as accepted either
    assert "not offered" in card and "near chance" in card and "0.52" in card
    client.post(
        f"/p/{project.slug}/annotate/{assignment.pk}/submit/", {"label": "positive"}, **HTMX
    )

    card, assignment = card_for(client, project)
    assert assignment.record_id == second.pk
    assert "The LLM suggests" in card and "<kbd>Enter</kbd>: Negative" in card
    # The suggested label's own button is marked, and only that one.
    marked = re.findall(r'<button[^>]*class="[^"]*suggested[^"]*"[^>]*value="([^"]+)"', card)
    marked += re.findall(r'<button[^>]*value="([^"]+)"[^>]*class="[^"]*suggested', card)
    assert marked == ["negative"]


@pytest.mark.django_db
def test_a_position_biased_judge_is_not_offered_and_its_card_warns(admin_user, annotator):
    project = project_create(
        name="pairs", task_type="pairwise", labels=[], created_by=admin_user,
        settings={"gold_rate": 0},
    )  # fmt: skip
    Membership.objects.create(user=annotator, project=project, role=Role.ANNOTATOR)
    run_import(project, as_jsonl(public_data.hh_pairs(2)))
    biased = Job.objects.create(
        project=project, kind=Job.Kind.JUDGE, status=Job.Status.SUCCEEDED,
        metrics={"pairs": 2, "position_bias_rate": 1.0, "verdicts": {"tie": 2}},
    )  # fmt: skip
    fair = Job.objects.create(
        project=project, kind=Job.Kind.JUDGE, status=Job.Status.SUCCEEDED,
        metrics={"pairs": 2, "position_bias_rate": 0.1, "verdicts": {"a": 2}},
    )  # fmt: skip
    first, second = Record.objects.filter(project=project).order_by("id")
    Annotation.objects.create(
        record=first, project=project, value={"choice": "tie", "reason": ""}, job=biased,
        source=Source.LLM, confidence=0.9,
    )  # fmt: skip
    Annotation.objects.create(
        record=second, project=project, value={"choice": "a", "reason": ""}, job=fair,
        source=Source.LLM, confidence=0.9,
    )  # fmt: skip
    client = client_for(annotator)

    card, assignment = card_for(client, project)
    assert assignment.record_id == first.pk
    assert 'data-key="enter"' not in card and "not offered" in card and "100%" in card
    client.post(f"/p/{project.slug}/annotate/{assignment.pk}/submit/", {"choice": "b"}, **HTMX)
    card, assignment = card_for(client, project)
    assert assignment.record_id == second.pk
    assert "<kbd>Enter</kbd>: A is better" in card

    admin = client_for(admin_user)
    biased_card = admin.get(f"/p/{project.slug}/jobs/{biased.pk}/").content.decode()
    assert "not offered to annotators" in biased_card
    fair_card = admin.get(f"/p/{project.slug}/jobs/{fair.pk}/").content.decode()
    assert "not offered to annotators" not in fair_card


def _llm_checked(project, records, truth, wrong: int) -> Job:
    """An LLM pre-label job whose spot checks (records people labeled) are wrong `wrong` times."""
    job = Job.objects.create(project=project, kind=Job.Kind.PRELABEL, status=Job.Status.SUCCEEDED)
    flip = {"negative": "positive", "positive": "negative"}
    for index, record in enumerate(records):
        said = flip[truth[record.pk]] if index < wrong else truth[record.pk]
        label = Annotation.objects.create(record=record, project=project, value=said,
                                          source=Source.LLM, job=job, confidence=0.95)  # fmt: skip
        RoutingDecision.objects.create(
            record=record, job=job, annotation=label, decision=RoutingDecision.Decision.SPOT_CHECK,
            label=said, confidence=0.95, threshold=0.9,
        )  # fmt: skip
    return job


@pytest.mark.django_db(transaction=True)
def test_the_round_classifier_is_offered_only_while_it_beats_the_llms_spot_checks(
    celery_worker, client, project, admin_user, annotator
):
    from tests.test_round import label_next

    run_import(project, as_jsonl(sst2_rows("dev", limit=120)), split=Split.GOLD)
    pool = sst2_rows("train", limit=160)
    run_import(project, as_jsonl(pool, drop=("label",)), split=Split.POOL)
    by_text = {row["text"]: row["label"] for row in pool}
    labeled = label_next(project, annotator, by_text, 40)
    truth = {a.record_id: a.value for a in labeled}
    checked = [a.record for a in labeled[:20]]
    _llm_checked(project, checked, truth, wrong=14)  # the LLM: 0.30 on 20 spot checks
    client.force_login(admin_user)

    def run_round() -> Round:
        response = client.post(f"/api/projects/{project.slug}/rounds/")
        assert response.status_code == 202, response.content
        job = wait_for_job(Job.objects.get(round_id=response.json()["id"]).pk)
        assert job.status == Job.Status.SUCCEEDED, job.error
        return Round.objects.get(pk=response.json()["id"])

    first = run_round()
    offered = first.metrics["suggestions"]
    assert offered["offered"] and offered["stored"] == 120, offered
    assert "beats the LLM's spot-check accuracy 0.30 on 20" in offered["why"]
    page = client.get(f"/p/{project.slug}/rounds/1/").content.decode()
    assert "this round's classifier</strong> on 120 waiting records" in page
    # A newer LLM label on every waiting record does not displace the better-measured classifier.
    waiting = Record.objects.filter(project=project, split=Split.POOL).exclude(
        pk__in=[a.record_id for a in labeled]
    )
    later = Job.objects.create(project=project, kind=Job.Kind.PRELABEL, status=Job.Status.SUCCEEDED)
    Annotation.objects.bulk_create(
        Annotation(record=r, project=project, value="positive", source=Source.LLM, job=later,
                   confidence=0.99) for r in waiting
    )  # fmt: skip
    # The queue puts the classifier's least certain records first, and a guess near chance is
    # withheld; its most certain record goes first here to be offered.
    surest = Annotation.objects.filter(source=Source.MODEL).order_by("-confidence").first()
    assert surest.confidence > 0.5 + project.settings_obj.suggestion_min_margin
    Record.objects.filter(pk=surest.record_id).update(priority=10**9)
    person = client_for(annotator)
    card, assignment = card_for(person, project)
    model_label = Annotation.objects.get(record=assignment.record, source=Source.MODEL)
    assert model_label == surest
    assert model_label.job.round_id == first.pk
    accuracy = f"{first.metrics['accuracy']:.0%}"
    assert f"Round 1&#x27;s classifier ({accuracy} right on gold) suggests" in card, card
    assert f'name="suggestion" value="{model_label.pk}"' in card
    # Enter accepts it: the label is the person's, counted as an accepted suggestion.
    person.post(
        f"/p/{project.slug}/annotate/{assignment.pk}/submit/",
        {"label": model_label.value, "suggestion": model_label.pk}, **HTMX,
    )  # fmt: skip
    accepted = Annotation.objects.get(record=assignment.record, source=Source.HUMAN)
    assert accepted.suggestion_accepted is True

    # The LLM's spot checks now say it is right every time: the next round offers its own
    # classifier no more, and its old suggestions leave the records nobody has labeled.
    for decision in RoutingDecision.objects.filter(record__in=checked):
        decision.label = truth[decision.record_id]
        decision.save(update_fields=["label"])
    second = run_round()
    decided = second.metrics["suggestions"]
    assert not decided["offered"], decided
    assert "does not beat the LLM's spot-check accuracy 1.00" in decided["why"]
    kept = Annotation.objects.filter(source=Source.MODEL).values_list("record_id", flat=True)
    assert list(kept) == [assignment.record_id]  # kept where a person saw and accepted it
    card, _ = card_for(person, project)
    assert "The LLM suggests" in card and "classifier" not in card


@pytest.mark.django_db
def test_only_the_latest_classifier_round_suggests_and_never_a_removed_label(project, annotator):
    import numpy as np

    from annotation.services.annotations import suggestion_for
    from workers.jobs.round_suggestions import stage_suggest

    run_import(project, as_jsonl(sst2_rows("dev", 3), drop=("label",)))
    first, second, third = Record.objects.filter(project=project).order_by("id")
    rounds = [
        Round.objects.create(project=project, number=n, kind="classifier", status="succeeded")
        for n in (1, 2)
    ]
    job = Job.objects.create(project=project, kind=Job.Kind.ROUND, round=rounds[0])
    # The classifier still knows a label the project has since removed ("neutral").
    decided = stage_suggest(
        job, rounds[0], pool_ids=[first.pk, second.pk],
        probabilities=np.array([[0.05, 0.05, 0.9], [0.9, 0.05, 0.05]]),
        classes=["negative", "positive", "neutral"],
        evaluation={"accuracy": 0.9, "gold_size": 100}, feedback={},
    )  # fmt: skip
    assert decided["offered"] and decided["stored"] == 1, decided
    assert not Annotation.objects.filter(record=first, source=Source.MODEL).exists()
    # Round 1's label on `second` is not offered: round 2 finished after it (e.g. it found the
    # LLM better and offers nothing; with overlap > 1 the record is still in the queue).
    assert suggestion_for(second) is None
    llm = Annotation.objects.create(
        record=second, project=project, value="positive", source=Source.LLM, confidence=0.9
    )
    assert suggestion_for(second) == llm
    Round.objects.filter(pk=rounds[1].pk).update(status="failed")  # round 1 is the latest again
    offered = suggestion_for(second)
    assert offered.source == Source.MODEL and offered.value == "negative"
    assert suggestion_for(third) is None
