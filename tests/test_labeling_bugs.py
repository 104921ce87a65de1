"""Labeling-page bugs of issue 13 that show over HTTP: held records in queues, a stale waiting
count, "Label changed" when nothing changed."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from annotation.models import Annotation, Assignment
from annotation.services.assignment import next_assignment
from curator.models import Record
from curator.services.model_jobs import record_hold_clear
from tests.conftest import as_jsonl, sst2_rows
from tests.test_imports import run_import

HTMX = {"HTTP_HX_REQUEST": "true"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def waiting_on(card: str) -> int:
    match = re.search(r"(\d+) waiting", card)
    assert match, card
    return int(match.group(1))


@pytest.mark.django_db
def test_held_records_reach_no_annotator_until_a_curator_clears_them(
    project, annotator, curator_user
):
    run_import(project, as_jsonl(sst2_rows("dev", 4), drop=("label",)))
    held = list(Record.objects.filter(project=project).order_by("id")[:2])
    Record.objects.filter(pk__in=[r.pk for r in held]).update(held=True, held_reason="toxicity")

    served = []
    while (assignment := next_assignment(project, annotator)) is not None:
        served.append(assignment.record_id)
        Assignment.objects.filter(pk=assignment.pk).update(state=Assignment.State.SUBMITTED)
    assert len(served) == 2 and not set(served) & {r.pk for r in held}

    record_hold_clear(record=held[0], user=curator_user)
    released = next_assignment(project, annotator)
    assert released is not None and released.record_id == held[0].pk
    Assignment.objects.filter(pk=released.pk).update(state=Assignment.State.SUBMITTED)
    assert next_assignment(project, annotator) is None  # the other one is still held


@pytest.mark.django_db
def test_a_held_gold_record_is_no_check_either(project, annotator, monkeypatch):
    run_import(project, as_jsonl(sst2_rows("dev", 2)), split="gold")
    project.settings = {**project.settings, "gold_rate": 0.5}
    project.save()
    monkeypatch.setattr("annotation.services.assignment.random.random", lambda: 0.0)  # always
    held, kept = Record.objects.filter(project=project).order_by("id")
    Record.objects.filter(pk=held.pk).update(held=True, held_reason="toxicity")
    check = next_assignment(project, annotator)
    assert check is not None and check.record_id == kept.pk
    Assignment.objects.filter(pk=check.pk).update(state=Assignment.State.SUBMITTED)
    assert next_assignment(project, annotator) is None


@pytest.mark.django_db
def test_waiting_count_goes_down_with_each_label(
    project, annotator, django_capture_on_commit_callbacks
):
    run_import(project, as_jsonl(sst2_rows("dev", 30), drop=("label",)))
    client = client_for(annotator)
    card = client.get(f"/p/{project.slug}/annotate/next/", **HTMX).content.decode()
    counts = [waiting_on(card)]
    for _ in range(5):
        assignment = Assignment.objects.get(annotator=annotator, state="leased")
        # The count follows a claim once it commits (the test's own transaction never does).
        with django_capture_on_commit_callbacks(execute=True):
            client.post(
                f"/p/{project.slug}/annotate/{assignment.pk}/submit/", {"label": "positive"}, **HTMX
            )
        card = client.get(f"/p/{project.slug}/annotate/next/", **HTMX).content.decode()
        counts.append(waiting_on(card))
    # Each label leases the next record (overlap 1): 29 once the first is leased, then down.
    assert counts == [29, 28, 27, 26, 25, 24]
    assert counts[-1] == Record.objects.filter(project=project, claimed_count=0).count()


@pytest.mark.django_db
def test_label_changed_only_when_the_label_changed(project, annotator):
    run_import(project, as_jsonl(sst2_rows("dev", 3), drop=("label",)))
    client = client_for(annotator)
    client.get(f"/p/{project.slug}/annotate/next/", **HTMX)
    assignment = Assignment.objects.get(annotator=annotator, state="leased")
    client.post(
        f"/p/{project.slug}/annotate/{assignment.pk}/submit/", {"label": "negative"}, **HTMX
    )
    label = Annotation.objects.get(author=annotator)
    revise = f"/p/{project.slug}/annotate/edit/{label.pk}/revise/"

    same = client.post(revise, {"label": "negative"}, **HTMX).content.decode()
    assert "Label changed" not in same and "Label unchanged" in same
    assert Annotation.objects.filter(author=annotator).count() == 1

    changed = client.post(revise, {"label": "positive"}, **HTMX).content.decode()
    assert "Label changed" in changed
    assert Annotation.objects.filter(author=annotator).count() == 2
