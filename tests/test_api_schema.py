"""The OpenAPI schema types every JSON answer, and the answers have exactly the keys it names.

A client generated from the schema must not get a bare `object` where the API returns figures
(agreement, annotator figures, distribution, batch stats, noise, lineage, round diffs, ...).
"""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from annotation.models import Annotation
from curator.models import LineageEdge, Record, Role
from tests.conftest import as_jsonl, sst2_rows
from tests.test_imports import run_import

# Model JSON fields whose shape is the task type's, the job kind's or the round kind's.
FREE_FORM = {
    "payload", "source", "value", "params", "model_identity", "metrics", "timings", "config",
    "settings", "hyperparameters", "evidence", "identity",
}  # fmt: skip


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in node and len(node["allOf"]) == 1:
        return _resolve(schema, node["allOf"][0])
    return node


def _untyped(schema: dict[str, Any], node: dict[str, Any], where: str, seen: frozenset) -> list:
    name = node.get("$ref", "")
    if name in seen:
        return []
    node = _resolve(schema, node)
    found = []
    if not node.get("type") and not any(k in node for k in ("oneOf", "anyOf", "enum")):
        found.append(where)
    if node.get("type") == "object" and not node.get("properties"):
        extra = node.get("additionalProperties")
        if not isinstance(extra, dict) or not extra:
            found.append(where)
        else:
            found += _untyped(schema, extra, f"{where}{{}}", seen | {name})
    for field, sub in node.get("properties", {}).items():
        if field not in FREE_FORM:
            found += _untyped(schema, sub, f"{where}.{field}", seen | {name})
    if "items" in node:
        found += _untyped(schema, node["items"], f"{where}[]", seen | {name})
    return found


def _body(schema: dict[str, Any], path: str, method: str, code: str) -> dict[str, Any]:
    content = schema["paths"][path][method]["responses"][code]["content"]["application/json"]
    node = _resolve(schema, content["schema"])
    return _resolve(schema, node["items"]) if node.get("type") == "array" else node


def test_every_json_answer_of_the_api_is_typed(schema):
    untyped = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if not code.startswith("2"):
                    continue  # errors: `detail` or field -> messages, documented once
                content = (response.get("content") or {}).get("application/json")
                if content:
                    untyped += _untyped(
                        schema, content["schema"], f"{method} {path} {code}", frozenset()
                    )
    assert untyped == []


TYPED = {
    ("/api/projects/{slug}/agreement/", "get", "200"): {
        "level": "string", "units": "integer", "fleiss_kappa": "number", "pairs": "array",
        "per_label": "object",
    },
    ("/api/projects/{slug}/annotators/", "get", "200"): {
        "username": "string", "labels": "integer", "median_seconds": "number",
        "gold_accuracy": "number", "competence": "number", "acceptance": "number",
    },
    ("/api/projects/{slug}/distribution/", "get", "200"): {
        "labeled": "integer", "labels": "object", "imbalance_ratio": "number",
        "imbalanced": "boolean", "minority_labels": "array", "length_histogram": "array",
    },
    ("/api/projects/{slug}/noise/", "get", "200"): {
        "flags": "integer", "open": "integer", "precision": "number",
    },
    ("/api/projects/{slug}/batches/{job_id}/bulk/", "post", "200"): {
        "decided": "integer", "stats": "object",
    },
    ("/api/projects/{slug}/filters/{job_id}/revert/", "post", "200"): {"restored": "integer"},
    ("/api/projects/{slug}/documents/", "post", "201"): {"id": "integer", "chunks": "integer"},
    ("/api/projects/{slug}/records/{record_id}/comments/", "post", "201"): {"id": "integer"},
    ("/api/projects/{slug}/records/{record_id}/lineage/", "get", "200"): {
        "ancestors": "array", "trained_in_rounds": "array", "model_versions": "array",
    },
    ("/api/projects/{slug}/rounds/{number}/diff/{other}/", "get", "200"): {
        "added": "array", "removed": "array", "relabeled": "array",
    },
    ("/api/projects/{slug}/rounds/{number}/", "get", "200"): {
        "number": "integer", "status": "string", "kind": "string",
    },
}  # fmt: skip


@pytest.mark.parametrize("where", list(TYPED), ids=lambda where: f"{where[1]} {where[0]}")
def test_figures_have_typed_properties(schema, where):
    body = _body(schema, *where)
    types = {
        field: _resolve(schema, node).get("type", "object" if "$ref" in node else None)
        for field, node in body["properties"].items()
    }
    for field, expected in TYPED[where].items():
        assert types.get(field) == expected, (field, types.get(field))


@pytest.mark.django_db
def test_answers_carry_exactly_the_keys_the_schema_names(
    client, schema, project, member, curator_user
):
    run_import(project, as_jsonl(sst2_rows("dev", 6)))
    records = list(Record.objects.filter(project=project).order_by("id"))
    people = [member(Role.ANNOTATOR, name) for name in ("ann", "bob")]
    labels = ["negative", "positive"]
    for i, record in enumerate(records):
        disagree = i % 3 == 0  # records 0 and 3: bob gives the other label
        for person, flip in zip(people, (False, disagree), strict=True):
            value = labels[(i + flip) % 2]
            Annotation.objects.create(
                record=record, project=project, value=value, source="human", author=person,
                seconds_spent=2.0 + i,
            )  # fmt: skip
    LineageEdge.objects.create(parent=records[0], child=records[1], operation="paraphrase")
    client.force_login(curator_user)
    base = f"/api/projects/{project.slug}"
    answers = {
        "/api/projects/{slug}/agreement/": client.get(f"{base}/agreement/").json(),
        "/api/projects/{slug}/annotators/": client.get(f"{base}/annotators/").json()[0],
        "/api/projects/{slug}/distribution/": client.get(f"{base}/distribution/").json(),
        "/api/projects/{slug}/noise/": client.get(f"{base}/noise/").json(),
        "/api/projects/{slug}/records/{record_id}/lineage/": client.get(
            f"{base}/records/{records[1].pk}/lineage/"
        ).json(),
    }
    for path, answer in answers.items():
        assert set(answer) == set(_body(schema, path, "get", "200")["properties"]), path
    distribution = answers["/api/projects/{slug}/distribution/"]
    assert 0 < distribution["labeled"] <= len(records)
    histogram = distribution["length_histogram"]
    assert set(histogram[0]) == {"from", "to", "records"}
    assert sum(b["records"] for b in histogram) == distribution["labeled"]
    [link] = answers["/api/projects/{slug}/records/{record_id}/lineage/"]["ancestors"]
    assert link["record_id"] == records[0].pk and link["operation"] == "paraphrase"
    assert {f["username"] for f in client.get(f"{base}/annotators/").json()} == {"ann", "bob"}
