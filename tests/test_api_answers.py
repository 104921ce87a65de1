"""The labeling API's answers are written out by hand (every label pays for them); each must stay
the answer DRF's generic serializer gives for the fields the schema declares."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers

from annotation.models import Annotation, Assignment, Source
from curator.api import serializers as s
from curator.models import Job, Record, Role, Split
from tests.conftest import as_jsonl
from tests.test_imports import run_import


def generic(serializer_class: type[serializers.BaseSerializer], instance: object) -> dict:
    """The answer DRF builds from the serializer's declared fields."""
    base = (
        serializers.ModelSerializer
        if issubclass(serializer_class, serializers.ModelSerializer)
        else serializers.Serializer
    )
    return base.to_representation(serializer_class(instance), instance)


def same_answer(serializer_class: type[serializers.BaseSerializer], instance: object) -> dict:
    fast = serializer_class(instance).data
    slow = generic(serializer_class, instance)
    # Equal as JSON too: key order, ints against floats, "Z" against "+00:00".
    assert json.dumps(fast) == json.dumps(slow)
    assert list(fast) == list(serializer_class(instance).fields)  # every declared field
    return dict(fast)


@pytest.fixture
def records(project) -> list[Record]:
    rows = [
        {"text": "<script>alert('x')</script> café \u2028 ünïcode"},
        {"text": "a plain sentence", "meta": {"nested": [1, 2.5, None, True]}},
        {"text": "a gold sentence"},
    ]
    run_import(project, as_jsonl(rows[:2]))
    run_import(project, as_jsonl(rows[2:]), split=Split.GOLD)
    return list(Record.objects.filter(project=project).order_by("id"))


@pytest.mark.django_db
def test_annotation_answers_match_drf_for_every_kind_of_label(project, annotator, records):
    job = Job.objects.create(project=project, kind=Job.Kind.PRELABEL)
    model_label = Annotation.objects.create(
        record=records[0], project=project, value="positive", source=Source.LLM,
        confidence=0.8300000001, job=job,
    )  # fmt: skip
    human = Annotation.objects.create(
        record=records[0], project=project, value="negative", source=Source.HUMAN,
        author=annotator, suggestion_accepted=False, seconds_spent=2.5,
    )  # fmt: skip
    revised = Annotation.objects.create(
        record=records[0], project=project, value="positive", source=Source.HUMAN,
        author=annotator, supersedes=human, suggestion_accepted=True, seconds_spent=0.0,
    )  # fmt: skip
    unchecked = Annotation.objects.create(  # stored before seconds were checked
        record=records[1], project=project, value={"choices": ["a", "b"]}, source=Source.HUMAN,
        author=annotator, seconds_spent=math.nan,
    )  # fmt: skip
    untimed = Annotation.objects.create(
        record=records[1], project=project, value="negative", source=Source.HUMAN,
        author=annotator, confidence=1,
    )  # fmt: skip

    created = (model_label, human, revised, unchecked, untimed)
    answers = {a.pk: same_answer(s.AnnotationSerializer, a) for a in created}
    # The same answers for rows read back, as the submit and the lists serve them.
    for annotation in Annotation.objects.filter(pk__in=answers):
        assert same_answer(s.AnnotationSerializer, annotation) == answers[annotation.pk]
    assert answers[model_label.pk]["job"] == job.pk
    assert answers[model_label.pk]["confidence"] == pytest.approx(0.83)
    assert answers[revised.pk]["supersedes"] == human.pk
    assert answers[revised.pk]["seconds_spent"] == 0.0
    assert answers[unchecked.pk]["seconds_spent"] is None  # NaN is not JSON
    assert (
        answers[untimed.pk]["confidence"] == 1.0 and answers[untimed.pk]["author"] == annotator.pk
    )
    assert answers[human.pk]["created_at"].endswith("Z")

    listed = s.AnnotationSerializer([human, untimed], many=True).data
    assert [dict(a) for a in listed] == [answers[human.pk], answers[untimed.pk]]


@pytest.mark.django_db
def test_assignment_answers_match_drf_with_and_without_a_suggestion(
    project, annotator, member, records
):
    pool, _, gold = records
    suggestion = Annotation.objects.create(
        record=pool, project=project, value="positive", source=Source.LLM, confidence=0.91
    )
    Annotation.objects.create(  # a model label on gold is never offered
        record=gold, project=project, value="positive", source=Source.LLM, confidence=0.99
    )
    lease = timezone.now() + timedelta(minutes=30)
    offered, blind = (  # one lease per annotator and project
        Assignment.objects.create(
            record=record, project=project, annotator=person, lease_expires_at=lease
        )
        for record, person in ((pool, annotator), (gold, member(Role.ANNOTATOR)))
    )

    answer = same_answer(s.AssignmentSerializer, offered)
    assert answer["suggestion"] == same_answer(s.SuggestionSerializer, suggestion)
    assert answer["suggestion"]["id"] == suggestion.pk
    assert answer["record"] == {"id": pool.pk, "payload": pool.payload}
    assert answer["record"] == same_answer(s.BlindRecordSerializer, pool)
    assert answer["state"] == "leased"

    hidden = same_answer(s.AssignmentSerializer, blind)
    assert hidden["suggestion"] is None
    assert set(hidden["record"]) == {"id", "payload"}  # nothing tells gold from pool


@pytest.mark.django_db
def test_the_submit_answer_schema_keeps_drf_generic_path(project, annotator, records):
    human = Annotation.objects.create(
        record=records[0], project=project, value="negative", source=Source.HUMAN,
        author=annotator,
    )  # fmt: skip
    human.next = None  # type: ignore[attr-defined]
    answer = s.SubmittedSerializer(human).data
    assert answer["next"] is None
    assert {k: v for k, v in answer.items() if k != "next"} == s.AnnotationSerializer(human).data
