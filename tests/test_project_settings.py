import pytest
from django.core.exceptions import ValidationError

from curator.models import AuditEvent, Project
from curator.models.project_settings import ProjectSettings


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


def test_stored_settings_read_as_one_typed_object_with_defaults():
    settings = ProjectSettings.from_stored(
        {"overlap": "3", "gate_min_agreement": False, "round_pipeline": ["noise"], "old_key": 1}
    )
    assert settings.overlap == 3 and isinstance(settings.overlap, int)
    assert settings.gate_min_agreement is None  # False switches a gate off
    assert settings.round_pipeline == ("noise",)
    assert settings.sampling == "hybrid" and settings.llm_model is None


def test_a_broken_stored_setting_is_reported_by_its_field_name():
    with pytest.raises(ValidationError) as refused:
        ProjectSettings.from_stored({"overlap": 0, "gold_rate": "lots", "round_pipeline": "x"})
    assert set(refused.value.message_dict) == {"overlap", "gold_rate", "round_pipeline"}
    assert refused.value.message_dict["overlap"] == ["must be between 1 and 20"]


def test_unknown_edits_are_refused_by_name():
    with pytest.raises(ValidationError) as refused:
        ProjectSettings.parse_changes({"overlap": "2", "colour": "red"})
    assert refused.value.message_dict == {"colour": ["not a project setting"]}


@pytest.mark.django_db
def test_project_settings_follow_a_reassigned_document(project):
    assert project.settings_obj.overlap == 1
    project.settings = {**project.settings, "overlap": 4}
    assert project.settings_obj.overlap == 4
    project.settings["overlap"] = 5  # changed in place, too
    assert project.settings_obj.overlap == project.setting("overlap") == 5


@pytest.mark.django_db
def test_a_settings_document_the_code_cannot_read_does_not_validate(project):
    # What the admin's form runs before it saves.
    project.settings = {"overlap": 0}
    with pytest.raises(ValidationError) as refused:
        project.full_clean()
    assert refused.value.message_dict["settings"] == ["overlap: must be between 1 and 20"]
