"""Logged chat-completion calls imported into correction and pairwise projects."""

from __future__ import annotations

import json

import pytest

from curator import public_data
from curator.importing.chatlog import correction_rows, pairwise_rows
from curator.importing.parsers import ImportFormatError, open_binary
from curator.models import Record
from curator.services.projects import project_create
from tests.test_imports import run_import


def call(messages: list[dict], answer: str, model: str = "gpt-4o-mini") -> str:
    return json.dumps(
        {
            "request": {"model": model, "messages": messages},
            "response": {"model": model, "choices": [{"message": {"role": "assistant",
                                                                  "content": answer}}]},
        }
    )  # fmt: skip


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def correction_project(admin_user):
    return project_create(name="Fix answers", task_type="correction", labels=[],
                          created_by=admin_user)  # fmt: skip


@pytest.fixture
def pairwise_project(admin_user):
    return project_create(name="Which is better", task_type="pairwise", labels=[],
                          created_by=admin_user)  # fmt: skip


@pytest.mark.django_db
def test_logged_calls_become_correction_records_with_the_answer_as_draft(correction_project):
    rows = public_data.alpaca(3)
    system = {"role": "system", "content": "You are a helpful assistant."}
    lines = [call(user(r["prompt"]), r["draft"]) for r in rows[:2]]
    lines.append(call([system, *user(rows[2]["prompt"])], rows[2]["draft"]))
    job, result = run_import(correction_project, ("\n".join(lines) + "\n").encode())
    assert (result.rows, result.created, result.labels) == (3, 3, 0)
    records = list(Record.objects.filter(created_by_job=job).order_by("id"))
    assert records[0].payload == {
        "prompt": rows[0]["prompt"],
        "messages": user(rows[0]["prompt"]),
        "draft": rows[0]["draft"],
        "draft_model": "gpt-4o-mini",
    }
    # A conversation with more than one turn is shown whole, each turn under its role.
    assert records[2].payload["prompt"] == (
        f"System: You are a helpful assistant.\n\nUser: {rows[2]['prompt']}"
    )
    assert records[1].source == {"file": "upload.jsonl", "line": 2}


@pytest.mark.django_db
def test_two_logged_answers_to_the_same_messages_become_a_pair(pairwise_project):
    pairs = public_data.hh_pairs(2)
    lines = []
    for pair in pairs:
        lines += [call(user(pair["prompt"]), pair["response_a"], "model-a"),
                  call(user(pair["prompt"]), pair["response_b"], "model-b")]  # fmt: skip
    lines.append(lines[0])  # the same answer logged twice adds no pair
    job, result = run_import(pairwise_project, ("\n".join(lines) + "\n").encode())
    assert (result.rows, result.created) == (2, 2)
    first = Record.objects.filter(created_by_job=job).order_by("id").first()
    assert first.payload["prompt"] == pairs[0]["prompt"]
    assert (first.payload["response_a"], first.payload["response_b"]) == (
        pairs[0]["response_a"], pairs[0]["response_b"],
    )  # fmt: skip
    assert (first.payload["model_a"], first.payload["model_b"]) == ("model-a", "model-b")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "line 2: invalid JSON"),
        (json.dumps({"request": {"messages": []}}), "line 2: a logged call needs 'request'"),
        (json.dumps({"request": {"messages": "hi"}, "response": {}}),
         "line 2: request.messages must be a list"),
        (json.dumps({"request": {"messages": [{"role": "bot", "content": "x"}]},
                     "response": {}}), "line 2: request.messages[0] needs a role"),
        (json.dumps({"request": {"messages": [{"role": "system", "content": "x"}]},
                     "response": {}}), "line 2: request.messages has no user message"),
        (json.dumps({"request": {"messages": user("hi")}, "response": {"choices": []}}),
         "line 2: response.choices[0] is missing"),
        (json.dumps({"request": {"messages": user("hi")},
                     "response": {"choices": [{"message": {"content": " "}}]}}),
         "line 2: response.choices[0].message.content is missing or empty"),
    ],
)  # fmt: skip
def test_malformed_lines_are_named_with_their_problem(line, problem):
    data = (call(user("Say hi."), "Hi!") + "\n" + line + "\n").encode()
    for reader in (correction_rows, pairwise_rows):
        with pytest.raises(ImportFormatError) as error:
            list(reader(open_binary(data)))
        assert str(error.value).startswith(problem), str(error.value)


def test_a_conversation_with_one_answer_cannot_make_a_pair():
    data = "\n".join([
        call(user("Name a colour."), "Blue."), call(user("Name a colour."), "Red."),
        call(user("Name a fruit."), "Apple."),
    ]).encode()  # fmt: skip
    with pytest.raises(ImportFormatError, match="line 3: only one distinct logged answer"):
        list(pairwise_rows(open_binary(data)))


@pytest.mark.django_db
def test_a_malformed_chat_log_keeps_nothing_and_other_task_types_refuse(
    correction_project, project
):
    data = (call(user("Say hi."), "Hi!") + "\n" + "[1, 2]\n").encode()
    with pytest.raises(ImportFormatError, match="line 2: a logged call needs"):
        run_import(correction_project, data)
    assert not Record.objects.filter(project=correction_project).exists()
    with pytest.raises(ImportFormatError, match="correction or pairwise projects"):
        run_import(project, call(user("Say hi."), "Hi!").encode())
    assert not Record.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_the_api_takes_chatlog_as_an_import_format(correction_project, admin_user, client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(admin_user)
    body = (call(user("Say hi."), "Hi!") + "\n").encode()
    upload = SimpleUploadedFile("calls.log", body, content_type="application/octet-stream")
    response = client.post(f"/api/projects/{correction_project.slug}/imports/",
                           {"file": upload, "format": "chatlog"})  # fmt: skip
    assert response.status_code == 202, response.content
    assert response.json()["params"]["format"] == "chatlog"
    upload = SimpleUploadedFile("calls.log", body, content_type="application/octet-stream")
    refused = client.post(f"/api/projects/{correction_project.slug}/imports/",
                          {"file": upload, "format": "xml"})  # fmt: skip
    assert refused.status_code == 400
