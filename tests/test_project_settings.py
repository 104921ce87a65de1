import pytest

from curator.models import AuditEvent, Project


def form(**overrides):
    values = {
        "overlap": "2", "lease_seconds": "600", "sampling": "entropy", "batch_size": "25",
        "committee_size": "3", "auto_accept_threshold": "0.85", "spot_check_rate": "0.2",
        "toxicity_threshold": "0.7", "score_toxicity_on_import": "on", "encoder_model": "",
        "llm_model": "Qwen/Qwen2.5-7B-Instruct", "toxicity_model": "", "prelabel_system": "",
        "prelabel_user": "Review: {text}\\nSentiment:",
    }  # fmt: skip
    values.update(overrides)
    return values


@pytest.mark.django_db
def test_admin_saves_settings_that_the_jobs_then_use(client, project, admin_user):
    client.force_login(admin_user)
    response = client.post(f"/p/{project.slug}/settings/", form())
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.settings["overlap"] == 2
    assert project.setting("sampling") == "entropy"
    assert project.setting("auto_accept_threshold") == 0.85
    assert project.setting("llm_model") == "Qwen/Qwen2.5-7B-Instruct"
    assert "encoder_model" not in project.settings  # empty means the default
    assert project.setting("encoder_model") is None
    event = AuditEvent.objects.get(action="project.settings")
    assert event.actor == admin_user and event.details["changes"]["overlap"] == 2
    page = client.get(f"/p/{project.slug}/settings/")
    assert b'value="Qwen/Qwen2.5-7B-Instruct"' in page.content


@pytest.mark.django_db
def test_invalid_settings_are_refused_whole_with_the_reasons(client, project, admin_user):
    client.force_login(admin_user)
    before = dict(project.settings)
    response = client.post(
        f"/p/{project.slug}/settings/",
        form(overlap="0", spot_check_rate="1.5", sampling="magic", prelabel_user="x" * 3000),
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "must be between 1 and 20" in body
    assert "must be between 0 and 1" in body
    assert "must be one of hybrid, entropy, committee" in body
    assert "must be at most 2000 characters" in body
    assert Project.objects.get(pk=project.pk).settings == before
    assert not AuditEvent.objects.filter(action="project.settings").exists()


@pytest.mark.django_db
def test_curator_cannot_change_settings(client, project, curator_user):
    client.force_login(curator_user)
    assert client.post(f"/p/{project.slug}/settings/", form()).status_code == 403
    assert "overlap" not in Project.objects.get(pk=project.pk).settings
