"""Every route of the URLconf, web and API, with hostile input: NUL characters, non-finite and
huge numbers, deep nesting, duplicate keys, non-integer cursors and ids. Never a 5xx, and the
API's errors are JSON. (schemathesis in test_api_fuzz.py covers the API's schema shapes.)"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from annotation.models import Annotation
from annotation.services.annotations import annotation_submit
from annotation.services.assignment import next_assignment
from curator.models import Job, Membership, Record, Role
from tests.conftest import as_jsonl, sst2_rows
from tests.test_imports import run_import

SKIP = ("admin/", "static/", "logout/", "api/schema/", "api/auth/token/", "healthz")
# A page for people that lives under /api/ (Swagger UI): HTML answers are right there.
HTML_UNDER_API = ("/api/docs/",)
DEEP = "[" * 10_000 + "]" * 10_000
BAD_CURSORS = [base64.b64encode(b"p=" + value).decode() for value in (b"abc", b"1e9999")]
QUERIES = [
    {"after": "²", "cursor": BAD_CURSORS[0], "round": "²", "output": "csv", "state": "nan"},
    {"after": "99999999999999999999999", "cursor": BAD_CURSORS[1], "round": "-1", "page": "x"},
    {"q": "a\x00b"},
]
FORM = {
    "adopt": "abc", "seconds": "nan", "suggestion": "²", "label": "NaN", "overlap": "-5",
    "gold_rate": "inf", "lease_seconds": "abc", "kind": "toxicity", "count": "1e999",
    "threshold": "inf", "text": "x" * 50_000, "reason": "y", "filters": DEEP, "decision": "edit",
    "after": "99999999999999999999999", "name": "n", "labels": "a\nb", "value": "NaN",
}  # fmt: skip
JSON_BODIES = [
    '{"a": 1, "a": 2}',
    '{"value": NaN, "seconds_spent": Infinity, "threshold": -Infinity}',
    '{"value": ' + DEEP + "}",
    '{"label": "x\\u0000", "text": "\\u0000", "name": "\\u0000", "settings": {"k\\u0000": 1}}',
    '{"label": "negative", "seconds_spent": 1.7e308, "kind": "toxicity", "adopt": "abc",'
    ' "params": {"chunk_size": -1}, "settings": {"overlap": -5, "gold_rate": 7},'
    ' "threshold": 1e999, "decision": "approve", "value": {"a": [[["b"]]]}}',
]
NUMBER = re.compile(r"<int:(\w+)>")


def routes(patterns=None, prefix: str = "") -> Iterator[str]:
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


@pytest.fixture
def world(project, admin_user, make_user):
    """A project with something behind every id a route takes."""
    admin_user.is_staff = True
    admin_user.save()
    run_import(project, as_jsonl(sst2_rows("dev", 6)))
    annotator = make_user("fuzz-annotator")
    Membership.objects.create(user=annotator, project=project, role=Role.ANNOTATOR)
    first = next_assignment(project, admin_user)
    annotation = annotation_submit(assignment=first, user=admin_user, value="negative")
    assignment = next_assignment(project, admin_user)
    job = Job.objects.filter(project=project).first()
    ids = {
        "assignment_id": assignment.pk,
        "annotation_id": annotation.pk,
        "record_id": Record.objects.filter(project=project).first().pk,
        "job_id": job.pk,
    }
    assert Annotation.objects.filter(pk=annotation.pk).exists()
    return project, admin_user, ids


def url_of(route: str, slug: str, ids: dict[str, int]) -> str | None:
    if route.startswith(SKIP) or (not route.endswith("/") and route):
        return None
    url = route.replace("<slug:slug>", slug)
    url = NUMBER.sub(lambda match: str(ids.get(match.group(1), 1)), url)
    return None if "<" in url else "/" + url


def check(response, method: str, url: str, failures: list[str]) -> None:
    if response.status_code >= 500:
        failures.append(f"{method} {url}: {response.status_code}")
    elif (
        url.startswith("/api/")
        and not url.startswith(HTML_UNDER_API)
        and response.status_code >= 400
        and not response["Content-Type"].startswith("application/json")
    ):
        failures.append(f"{method} {url}: {response.status_code} as {response['Content-Type']}")


@pytest.mark.django_db
def test_no_route_answers_hostile_input_with_a_server_error(client, world):
    project, user, ids = world
    client.force_login(user)
    client.raise_request_exception = False
    urls = sorted({url for route in routes() if (url := url_of(route, project.slug, ids))})
    assert len(urls) > 60  # the walk reached the web pages and the API
    failures: list[str] = []
    for url in urls:
        for query in QUERIES:
            check(client.get(url, query), "GET", url, failures)
        check(client.post(url, FORM), "POST form", url, failures)
        check(client.post(url, {**FORM, "text": "a\x00b"}), "POST NUL", url, failures)
        if url.startswith("/api/"):
            for body in JSON_BODIES:
                for method in ("post", "patch"):
                    response = getattr(client, method)(url, body, content_type="application/json")
                    check(response, f"{method.upper()} {body[:20]}", url, failures)
    assert not failures, "\n".join(failures)
