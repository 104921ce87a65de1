"""The audit log and production settings (log-in throttling: test_auth.py)."""

import os
import subprocess
import sys

import pytest
from django.core.cache import cache

from curator.models import AuditEvent
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
def test_curator_and_admin_actions_are_audited(client, project, curator_user, admin_user):
    from curator.models import Record
    from tests.conftest import as_jsonl, sst2_rows
    from tests.test_imports import run_import

    run_import(project, as_jsonl(sst2_rows("dev", 3), drop=("label",)))
    record = Record.objects.filter(project=project).first()
    Record.objects.filter(pk=record.pk).update(held=True, held_reason="toxicity 0.93")
    client.force_login(curator_user)
    client.post(f"/api/projects/{project.slug}/records/{record.pk}/clear-hold/")
    event = AuditEvent.objects.get(action="record.hold_clear")
    assert (event.actor, event.project, event.target) == (
        curator_user,
        project,
        f"record {record.pk}",
    )
    assert event.details == {"reason": "toxicity 0.93"}
    assert AuditEvent.objects.filter(action="project.create", actor=admin_user).exists()


def test_deploy_checks_pass_under_production_settings():
    env = {
        **os.environ,
        "DJANGO_SECURE": "1",
        "DJANGO_SECRET_KEY": "k" * 20 + "-production-secret-from-the-environment-9f8a7b6c5d",
        "DJANGO_ALLOWED_HOSTS": "curator.example.org",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    env["DJANGO_SECURE"] = "1"
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
