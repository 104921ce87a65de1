"""Suggestions that help (issue 13): no "Enter accepts" on a guess near chance or on a verdict of
a position-biased judge; the suggested choice is marked on its own button."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from annotation.models import Annotation, Assignment, Source
from curator import public_data
from curator.algorithms.calibration import near_chance
from curator.models import Job, Membership, Record, Role
from curator.services.projects import project_create
from tests.conftest import as_jsonl, sst2_rows
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
    assert "Model suggests" not in card and 'data-key="enter"' not in card
    assert 'name="suggestion"' not in card  # nothing to count as accepted either
    assert "not offered" in card and "near chance" in card and "0.52" in card
    client.post(
        f"/p/{project.slug}/annotate/{assignment.pk}/submit/", {"label": "positive"}, **HTMX
    )

    card, assignment = card_for(client, project)
    assert assignment.record_id == second.pk
    assert "Model suggests" in card and "<kbd>Enter</kbd>: Negative" in card
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
