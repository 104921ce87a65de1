"""`make reliability`: faults, load and hostile input, as figures.

Runs the reliability tests (faults against the real services, the payload corpus, the access
matrix), then 64 simulated annotators for 60 s against gunicorn on PostgreSQL, then a 1M-record
import with its peak memory, and the same import cancelled half way.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from bench.common import OUT, ROOT, setup_django, table

# The probes of issue 15, by category: each a reliability test (its name, a substring) that
# sends the category's hostile inputs and asserts a 4xx and nothing stored.
PROBES = {
    "password guessing throttled and audited on every log-in path": [
        "test_thirty_wrong_passwords_on_the_token_endpoint",
        "test_admin_login_is_throttled",
        "test_the_wait_grows_with_each_failure",
        "test_guessing_the_old_password_on_the_account_page",
    ],
    "lock-outs as a denial of service": [
        "test_an_attacker_failing_with_the_victims_username",
        "test_invented_usernames_from_one_address",
        "test_forwarded_for_is_believed_only_from_a_configured_proxy",
        "test_hostile_usernames_are_refused",
    ],
    "tokens: 401 challenge, expiry, revocation, rotation": [
        "test_anonymous_api_calls_get_401",
        "test_tokens_expire",
        "test_a_user_creates_and_revokes_a_token",
        "test_changing_the_password_revokes_the_token",
        "test_a_password_changed_anywhere_revokes",
        "test_password_rules_apply",
        "test_non_staff_users_are_turned_away_from_the_admin",
    ],
    "Content-Security-Policy": [
        "test_pages_carry_a_content_security_policy",
        "test_no_template_has_inline_handlers",
        "test_member_roles_and_the_account_page_work_under_the_policy",
    ],
    "blind gold and spot checks": [
        "test_annotators_cannot_tell_gold_or_spot_checks",
        "test_spot_check_figures_are_not_live_feedback",
    ],
    "other people's labels and gold references": [
        "test_annotators_cannot_read_other_peoples_labels",
        "test_llm_evaluation_samples_of_gold_are_for_curators",
    ],
    "tracebacks and server paths": [
        "test_failed_job_tracebacks_are_for_admins_only",
        "test_import_jobs_never_show_the_server_side_upload_path",
    ],
    "prompt injection goes to a person": [
        "test_the_detector_finds_instructions",
        "test_a_distrusted_confidence_always_asks_a_person",
        "test_prelabel_sends_injected_records_to_people",
    ],
    "CSV formula injection": ["test_csv_export_defuses"],
    "non-finite / huge seconds": ["test_non_finite_or_huge_seconds"],
    "project settings validation": ["test_api_project_settings_are_checked"],
    "job parameter validation": ["test_job_parameters_are_typed", "test_a_job_never_fans_out"],
    "cursors and ids": ["test_hand_made_cursors_and_ids"],
    "hostile JSON (nesting, NaN, duplicate keys, NUL)": ["test_hostile_json_bodies"],
    "NUL in forms and labels": ["test_nul_characters_in_forms"],
    "API errors as JSON": ["test_an_unexpected_api_error_is_json"],
    "PDF decompression bomb": ["test_a_pdf_bomb_is_refused"],
    "uploads removed and limited while streaming": [
        "test_uploads_are_removed",
        "test_a_cancelled_import_removes",
        "test_the_upload_limit_holds",
    ],
    "every route fuzzed (URLconf walk)": ["test_no_route_answers_hostile_input"],
}


def probe_categories(report: Path) -> list[list[Any]]:
    """Per category: probes attempted and failed, read from the run's JUnit report."""
    # Our own pytest run wrote it, so it is trusted input.
    cases = ElementTree.parse(report).getroot().iter("testcase")  # noqa: S314
    outcome = {
        case.get("name", ""): any(child.tag in ("failure", "error") for child in case)
        for case in cases
    }
    rows = []
    for category, names in PROBES.items():
        ran = [failed for test, failed in outcome.items() if any(n in test for n in names)]
        rows.append([f"probe: {category}", f"{len(ran)} attempted / {sum(ran)} failed"])
    return rows


def run_reliability_tests() -> dict[str, Any]:
    from tests.reliability.test_access_matrix import ENDPOINTS, PERSONAS
    from tests.reliability.test_hostile_input import PAYLOADS

    report = OUT / "reliability-junit.xml"
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "tests/reliability", "-p", "no:cacheprovider",
            f"--junitxml={report}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )  # fmt: skip
    tail = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    passed = int(m.group(1)) if (m := re.search(r"(\d+) passed", tail)) else 0
    failed = int(m.group(1)) if (m := re.search(r"(\d+) failed", tail)) else 0
    faults = len(
        re.findall(r"^def test_", (ROOT / "tests/reliability/test_faults.py").read_text(), re.M)
    )
    return {
        "tests_passed": passed,
        "tests_failed": failed,
        "faults_tested": faults,
        "payloads": len(PAYLOADS),
        "endpoint_role_checks": len(ENDPOINTS) * len(PERSONAS),
        "probes": probe_categories(report) if report.exists() else [],
    }


def import_million(count: int):  # -> (figures, the project of 1M records)
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from bench.imports import PeakRss, write_file
    from curator.importing.parsers import parse
    from curator.models import Job, Record
    from curator.services import imports
    from curator.services.jobs import JobCancelled
    from curator.services.projects import project_create

    user = get_user_model().objects.create_user("reliability")
    path, size = write_file(count)
    project = project_create(name="million", labels=["negative", "positive"], created_by=user)
    job = Job.objects.create(project=project, kind=Job.Kind.IMPORT)
    with open(path, "rb") as handle, PeakRss() as rss:
        started = time.perf_counter()
        result = imports.import_rows(
            project=project,
            rows=parse(handle, "jsonl"),
            split="pool",
            job=job,
            filename="million.jsonl",
        )
        seconds = time.perf_counter() - started
    figures = {
        "rows": result.rows,
        "seconds": seconds,
        "records_per_s": result.rows / seconds,
        "file_mb": size / 2**20,
        "peak_rss_growth_mb": rss.growth_mb,
    }

    doomed = project_create(name="cancelled", labels=["negative", "positive"], created_by=user)
    job = Job.objects.create(project=doomed, kind=Job.Kind.IMPORT, status=Job.Status.RUNNING)
    timer = threading.Timer(
        2.0, lambda: Job.objects.filter(pk=job.pk).update(status=Job.Status.CANCELLED)
    )
    timer.start()
    started = time.perf_counter()
    try:
        with open(path, "rb") as handle, transaction.atomic():
            imports.import_rows(
                project=doomed,
                rows=parse(handle, "jsonl"),
                split="pool",
                job=job,
                filename="million.jsonl",
            )
        figures["cancel_outcome"] = "not cancelled"
    except JobCancelled:
        figures["cancel_outcome"] = "cancelled"
    figures["cancel_seconds"] = time.perf_counter() - started
    figures["records_kept_after_cancel"] = Record.objects.filter(project=doomed).count()
    return figures, project


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    setup_django()
    from bench import labeling, scale

    tests = run_reliability_tests()
    from django.db import connection

    connection.close()  # the PostgreSQL-restart test ended this process's connection too
    load = labeling.load(seconds=60, levels="64", mode="separate")
    million, project = import_million(1_000_000)
    at_scale = scale.run(project)
    integrity = load["integrity"]
    rows = [
        ["reliability tests passed / failed", f"{tests['tests_passed']} / {tests['tests_failed']}"],
        ["faults survived: worker SIGKILL, Redis down, PG restart", tests["faults_tested"]],
        ["hostile payloads tried on every page", tests["payloads"]],
        ["endpoint x role checks", tests["endpoint_role_checks"]],
        *tests["probes"],
        ["64 annotators, 60 s: labels submitted", integrity["submitted"]],
        ["64 annotators, 60 s: labels lost", integrity["submitted"] - integrity["stored"]],
        ["64 annotators, 60 s: records over-assigned", integrity["over_assigned_records"]],
        [
            "64 annotators, 60 s: p50 / p99 ms",
            f"{load['separate/64']['p50']:.0f} / {load['separate/64']['p99']:.0f}",
        ],
        ["1M-record import: records/s", round(million["records_per_s"])],
        ["1M-record import: peak RSS growth MB", round(million["peak_rss_growth_mb"], 1)],
        [
            "1M-record import cancelled: outcome, seconds",
            f"{million['cancel_outcome']}, {million['cancel_seconds']:.1f}",
        ],
        ["records kept after the cancelled import", million["records_kept_after_cancel"]],
    ]
    rows += [
        [f"1M records: {name}, p50 / p99 ms", f"{figures['p50']:.1f} / {figures['p99']:.1f}"]
        for name, figures in at_scale.items()
    ]
    print(table("Reliability report", ["figure", "value"], rows))
    (OUT / "reliability.json").write_text(
        json.dumps(
            {"tests": tests, "load": load, "import": million, "scale": at_scale},
            indent=2,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
