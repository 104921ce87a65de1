"""Admins manage members; staff create projects of any task type from the browser."""

import pytest

from curator.models import AuditEvent, Membership, Project, Role


@pytest.mark.django_db
def test_admin_adds_changes_and_removes_members(client, project, admin_user, make_user):
    newcomer = make_user("nina")
    client.force_login(admin_user)
    client.post(f"/p/{project.slug}/members/", {"username": "nina", "role": "annotator"})
    assert Membership.objects.get(project=project, user=newcomer).role == Role.ANNOTATOR
    client.post(f"/p/{project.slug}/members/", {"username": "nina", "role": "curator"})
    assert Membership.objects.get(project=project, user=newcomer).role == Role.CURATOR
    page = client.get(f"/p/{project.slug}/members/").content.decode()
    assert "nina" in page
    client.post(f"/p/{project.slug}/members/{newcomer.pk}/remove/")
    assert not Membership.objects.filter(project=project, user=newcomer).exists()
    actions = list(AuditEvent.objects.filter(project=project).values_list("action", flat=True))
    assert actions.count("membership.set") == 2 and "membership.remove" in actions


@pytest.mark.django_db
def test_the_last_admin_cannot_leave_or_be_demoted(client, project, admin_user):
    client.force_login(admin_user)
    response = client.post(f"/p/{project.slug}/members/{admin_user.pk}/remove/", follow=True)
    assert "keeps at least one admin" in response.content.decode()
    client.post(f"/p/{project.slug}/members/", {"username": admin_user.username, "role": "curator"})
    assert Membership.objects.get(project=project, user=admin_user).role == Role.ADMIN


@pytest.mark.django_db
def test_unknown_user_and_role_are_refused_clearly(client, project, admin_user, make_user):
    make_user("olaf")
    client.force_login(admin_user)
    page = client.post(
        f"/p/{project.slug}/members/", {"username": "ghost", "role": "annotator"}, follow=True
    ).content.decode()
    assert "No user named" in page
    page = client.post(
        f"/p/{project.slug}/members/", {"username": "olaf", "role": "owner"}, follow=True
    ).content.decode()
    assert "unknown role" in page
    assert Membership.objects.filter(project=project).count() == 1


@pytest.mark.django_db
def test_staff_create_a_rating_project_from_the_browser(client, make_user):
    staff = make_user("stan", is_staff=True)
    client.force_login(staff)
    response = client.post(
        "/projects/new/",
        {
            "name": "Helpfulness",
            "task_type": "rating",
            "labels": "1 | 1 - useless\n2\n3 | 3 - fine\n4\n5 | 5 - perfect\n",
            "guidelines": "Rate the answer.",
        },
    )
    project = Project.objects.get(name="Helpfulness")
    assert response.status_code == 302 and response["Location"] == f"/p/{project.slug}/"
    assert project.task_type == "rating"
    assert [label["name"] for label in project.labels][:3] == ["1 - useless", "2", "3 - fine"]
    assert Membership.objects.get(project=project, user=staff).role == Role.ADMIN


@pytest.mark.django_db
def test_bad_projects_are_refused_and_non_staff_see_no_form(client, make_user):
    staff = make_user("stan", is_staff=True)
    client.force_login(staff)
    response = client.post(
        "/projects/new/", {"name": "Scale", "task_type": "rating", "labels": "good\nbad"}
    )
    assert response.status_code == 400 and "whole numbers" in response.content.decode()
    response = client.post(
        "/projects/new/", {"name": "Pairs", "task_type": "pairwise", "labels": "a\nb"}
    )
    assert response.status_code == 400 and "has no labels" in response.content.decode()
    assert not Project.objects.exists()
    client.force_login(make_user("ursula"))
    assert client.get("/projects/new/").status_code == 404


@pytest.mark.django_db
def test_demo_loads_a_project_per_demo_task_type_idempotently():
    from django.core.management import call_command

    call_command("load_demo", verbosity=0)
    call_command("load_demo", verbosity=0)
    projects = {p.slug: p for p in Project.objects.all()}
    assert {p.task_type for p in projects.values()} == {"classification", "pairwise", "correction"}
    for project in projects.values():
        assert project.records.exists()
        roles = set(Membership.objects.filter(project=project).values_list("role", flat=True))
        assert roles == {Role.ADMIN, Role.CURATOR, Role.ANNOTATOR}


@pytest.mark.django_db
def test_demo_preference_and_correction_projects_can_start_llm_rounds_at_once():
    from django.core.management import call_command

    from annotation.labels import gold_annotations
    from curator import round_kinds
    from curator.algorithms.training_config import TrainingConfig
    from curator.models import Record, Split
    from curator.services.gates import contamination_gate

    call_command("load_demo", verbosity=0)
    offered = {}
    for slug in ("demo-preference", "demo-correction"):
        project = Project.objects.get(slug=slug)
        config = TrainingConfig.from_settings(project.settings_obj.llm_training)
        assert (config.max_steps, config.per_device_batch_size, config.lora_rank) == (8, 2, 8)
        assert project.settings_obj.llm_eval_gold_limit == 4
        assert len(gold_annotations(project)) == 4
        for kind in round_kinds.kinds_for(project.task_type):
            rows = kind.snapshot_rows(project)
            offered[(slug, kind.name)] = len(rows)
            train = Record.objects.filter(pk__in=[row.record_id for row in rows])
            assert not train.filter(split=Split.GOLD).exists()
            assert contamination_gate(project, [row.record_id for row in rows], True).passed
    assert offered == {
        ("demo-preference", "dpo"): 12,
        ("demo-preference", "reward"): 12,
        ("demo-correction", "sft"): 12,
    }
