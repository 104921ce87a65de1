import pytest
from django.core.exceptions import ValidationError

from curator.algorithms.training_config import TrainingConfig
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
    assert "must be one of auto, margin, hybrid, entropy, committee, typical" in body
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
    assert settings.sampling == "auto" and settings.llm_model is None


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


def training_form(**fields):
    return form(**{f"llm_training.{name}": value for name, value in fields.items()})


@pytest.mark.django_db
def test_admin_edits_the_llm_training_settings_a_round_then_trains_with(
    client, project, admin_user
):
    project.settings = {"llm_training": {"target_modules": ["q_proj", "v_proj"], "seed": 3}}
    project.save()
    client.force_login(admin_user)
    response = client.post(
        f"/p/{project.slug}/settings/",
        {
            **training_form(max_steps="8", epochs="", learning_rate="5e-4", lora_rank="8",
                            per_device_batch_size="2", max_length="256"),
            "llm_eval_gold_limit": "4", "llm_eval_max_new_tokens": "32",
        },
    )  # fmt: skip
    assert response.status_code == 302
    project.refresh_from_db()
    # The fields land in the one `llm_training` document; keys the page does not show stay.
    assert project.settings["llm_training"] == {
        "target_modules": ["q_proj", "v_proj"], "seed": 3, "max_steps": 8,
        "learning_rate": 0.0005, "lora_rank": 8, "per_device_batch_size": 2, "max_length": 256,
    }  # fmt: skip
    config = TrainingConfig.from_settings(project.settings_obj.llm_training)
    assert (config.max_steps, config.lora_rank, config.epochs) == (8, 8, 1.0)
    assert project.setting("llm_eval_gold_limit") == 4
    assert project.setting("llm_eval_max_new_tokens") == 32
    page = client.get(f"/p/{project.slug}/settings/").content.decode()
    assert 'name="llm_training.max_steps" type="number" min="1" value="8"' in page

    # An emptied field goes back to its default; the others are kept.
    response = client.post(f"/p/{project.slug}/settings/", training_form(max_steps=""))
    assert response.status_code == 302
    project.refresh_from_db()
    assert "max_steps" not in project.settings["llm_training"]
    assert project.settings["llm_training"]["lora_rank"] == 8


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"lora_rank": "0"}, "lora_rank must be at least 1, got 0"),
        ({"learning_rate": "fast"}, "learning_rate must be a number, got &#x27;fast&#x27;"),
        ({"max_steps": "2.5"}, "max_steps must be a whole number, got 2.5"),
        ({"max_length": "8", "learning_rate": "2"}, "max_length must be at least 16, got 8"),
    ],
)
def test_invalid_llm_training_settings_are_refused_whole_with_the_reason(
    client, project, admin_user, fields, message
):
    client.force_login(admin_user)
    before = dict(project.settings)
    response = client.post(f"/p/{project.slug}/settings/", training_form(**fields))
    assert response.status_code == 400
    body = response.content.decode()
    assert "Nothing was saved" in body and message in body
    assert Project.objects.get(pk=project.pk).settings == before  # nor the overlap of the form
    assert not AuditEvent.objects.filter(action="project.settings").exists()
