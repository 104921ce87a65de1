"""Every registered task type works end to end: its card renders with its key help, its form's
post validates into the stored shape, and that label exports (JSONL and CSV) and imports back
into a new project as the same stored value. A task type added to the registry without an
example here fails these tests."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from annotation import task_types
from annotation.models import Annotation, Assignment, Source
from curator.models import Membership, Project, Record, Role, Split
from curator.services.exports import export_write
from curator.services.projects import project_create
from tests.conftest import as_jsonl
from tests.test_imports import run_import
from workers.jobs import generate, generate_instructions
from workers.jobs.prelabel import METHODS

HTMX = {"HTTP_HX_REQUEST": "true"}
ROUND_KINDS = {task_types.CLASSIFIER, task_types.SFT, task_types.DPO, task_types.REWARD}
LABEL_JOBS = {task_types.PRELABEL, task_types.GENERATE, task_types.JUDGE}

# name -> (project labels, record payload, what its labeling form posts, the stored value)
EXAMPLES: dict[str, tuple[list, dict, dict, object]] = {
    "classification": (
        ["negative", "positive"],
        {"text": "A <b>fine</b> film."},
        {"label": "positive"},
        "positive",
    ),
    "multilabel": (
        ["politics", "sports", "economy"],
        {"text": "The minister opened the stadium."},
        {"labels": ["economy", "politics"]},
        ["politics", "economy"],
    ),
    "rating": (
        [{"value": str(n), "name": f"{n} stars"} for n in range(1, 6)],
        {"text": "Helpful and polite."},
        {"rating": "4"},
        4,
    ),
    "pairwise": (
        [],
        {"prompt": "Say hi", "response_a": "Go away.", "response_b": "Hello!"},
        {"choice": "b", "reason": "kinder"},
        {"choice": "b", "reason": "kinder"},
    ),
    "correction": (
        [],
        {"prompt": "Say hi", "draft": "Helo"},
        {"text": "Hello"},
        {"text": "Hello", "draft": "Helo", "edited": True},
    ),
    "span": (
        ["PER", "ORG"],
        {"text": "Alice works at Acme"},
        {
            "spans": json.dumps(
                [{"start": 15, "end": 19, "label": "ORG"}, {"start": 0, "end": 5, "label": "PER"}]
            )
        },
        [
            {"start": 0, "end": 5, "label": "PER", "text": "Alice"},
            {"start": 15, "end": 19, "label": "ORG", "text": "Acme"},
        ],
    ),
}


# name -> a form post its task type must refuse
BAD_POSTS: dict[str, dict] = {
    "classification": {"label": "neutral"},
    "multilabel": {"labels": ["weather"]},
    "rating": {"rating": "6"},
    "pairwise": {"choice": "c"},
    "correction": {"text": "   "},
    "span": {"spans": "Alice"},
}


def test_every_registered_task_type_has_an_example_here():
    assert set(task_types.names()) == set(EXAMPLES) == set(BAD_POSTS)


def test_project_task_type_choices_are_the_registry():
    assert Project._meta.get_field("task_type").choices == task_types.choices()
    assert task_types.choices()[0][0] == Project._meta.get_field("task_type").default


def test_an_unknown_task_type_is_refused_with_a_validation_error():
    with pytest.raises(ValidationError, match="unknown task type 'essay'"):
        task_types.get("essay")


@pytest.mark.parametrize("task", task_types.all(), ids=lambda task: task.name)
def test_declared_rounds_and_model_jobs_are_ones_that_exist(task):
    assert set(task.round_kinds) <= ROUND_KINDS
    assert task.model_jobs <= LABEL_JOBS
    # The worker knows how to pre-label every task type that says it can be.
    assert task.prelabel_method is None or task.prelabel_method in METHODS
    assert task.trainable == (task_types.CLASSIFIER in task.round_kinds)
    # The worker has a prompt template for every generator a task type offers.
    templates = {
        task_types.LABELED_TEXT: generate.TEMPLATES,
        task_types.PROMPT_RESPONSE: generate_instructions.TEMPLATES,
    }
    assert (task_types.GENERATE in task.model_jobs) == bool(task.generation and task.generators)
    if task.generation is not None:
        assert set(task.generators) <= set(templates[task.generation])


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_a_label_from_the_form_exports_and_imports_back_as_the_same_value(
    name, admin_user, make_user, tmp_path
):
    task = task_types.get(name)
    labels, payload, form, stored = EXAMPLES[name]
    first = project_create(
        name=f"{name} one", task_type=name, labels=labels, created_by=admin_user,
        settings={"gold_rate": 0},
    )  # fmt: skip
    run_import(first, as_jsonl([payload]))
    person = make_user(f"{name}-annotator")
    Membership.objects.create(user=person, project=first, role=Role.ANNOTATOR)
    client = Client()
    client.force_login(person)

    page = client.get(f"/p/{first.slug}/annotate/").content.decode()
    for help in task.key_help(first.labels):
        assert help.action.replace("'", "&#x27;") in page
    card = client.get(f"/p/{first.slug}/annotate/next/", **HTMX)
    assert card.status_code == 200
    assert f'data-task="{name}"' in card.content.decode()
    assignment = Assignment.objects.get(record__project=first, annotator=person)
    response = client.post(f"/p/{first.slug}/annotate/{assignment.pk}/submit/", form, **HTMX)
    assert response.status_code == 200
    label = Annotation.objects.get(record__project=first, source=Source.HUMAN)
    assert label.value == stored
    assert task.describe(first.labels, label.value)

    for fmt in ("jsonl", "csv"):
        manifest = export_write(first, tmp_path / fmt, fmt)
        again = project_create(
            name=f"{name} from {fmt}", task_type=name, labels=labels, created_by=admin_user
        )
        _, result = run_import(again, (tmp_path / fmt / manifest["file"]).read_bytes(), fmt=fmt)
        assert (result.created, result.labels) == (1, 1)
        record = Record.objects.get(project=again)
        assert record.payload == payload
        assert record.split == Split.POOL
        assert Annotation.objects.get(record=record, source=Source.IMPORT).value == stored


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_a_bad_form_post_is_refused_and_stores_nothing(name, admin_user, make_user):
    labels, payload, _, _ = EXAMPLES[name]
    project = project_create(
        name=f"{name} bad", task_type=name, labels=labels, created_by=admin_user,
        settings={"gold_rate": 0},
    )  # fmt: skip
    run_import(project, as_jsonl([payload]))
    person = make_user(f"{name}-careless")
    Membership.objects.create(user=person, project=project, role=Role.ANNOTATOR)
    client = Client()
    client.force_login(person)
    client.get(f"/p/{project.slug}/annotate/next/", **HTMX)
    assignment = Assignment.objects.get(record__project=project, annotator=person)
    card = client.post(
        f"/p/{project.slug}/annotate/{assignment.pk}/submit/", BAD_POSTS[name], **HTMX
    ).content.decode()
    assert '<p class="error" role="alert">' in card
    assert not Annotation.objects.filter(record__project=project).exists()
    assert Assignment.objects.get(pk=assignment.pk).state == Assignment.State.LEASED
