"""Creating projects and managing who belongs to them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from annotation import task_types
from curator.models import Membership, Project, Role, User
from curator.models.project_settings import ProjectSettings
from curator.models.validation import field_errors, nested_field_errors
from curator.permissions import Action, require
from curator.services.audit import audit


def normalise_labels(
    labels: list[Any], task_type: str = task_types.CLASSIFICATION
) -> list[dict[str, str]]:
    """Accept ["pos", "neg"] or [{"value": "pos", "name": "Positive"}]; refuse repeats, blanks.

    Pairwise and correction projects have no labels; a rating project's labels are its scale
    points, each named by its rubric line ("1 - off topic").
    """
    task = task_types.get(task_type)
    if not task.uses_labels:
        if labels:
            raise ValidationError(f"a {task.title.lower()} project has no labels")
        return []
    result: list[dict[str, str]] = []
    for label in labels:
        if isinstance(label, dict):
            value, name = str(label.get("value", "")).strip(), str(label.get("name", "")).strip()
        else:
            value = name = str(label).strip()
        if not value:
            raise ValidationError("a label needs a non-empty value")
        result.append({"value": value, "name": name or value})
    values = [label["value"] for label in result]
    if len(set(values)) != len(values):
        raise ValidationError("labels must be distinct")
    if not task.min_labels <= len(result) <= task.max_labels:
        raise ValidationError(
            f"a {task.title.lower()} project needs {task.min_labels} to {task.max_labels} labels"
        )
    task.check_labels(result)
    return result


def project_create(
    *,
    name: str,
    labels: list[Any],
    created_by: User,
    guidelines: str = "",
    task_type: str = task_types.CLASSIFICATION,
    settings: dict[str, Any] | None = None,
    slug: str | None = None,
) -> Project:
    """Create a project; its creator becomes its first admin. Refused labels raise a
    ValidationError about the field `labels`, refused settings one about `settings.<name>`
    (the rules of ProjectSettings, as on the settings page)."""
    with field_errors("labels"):
        labels_checked = normalise_labels(labels, task_type)
    with nested_field_errors("settings"):
        settings_checked = ProjectSettings.parse_document(settings)
    with transaction.atomic():
        project = Project.objects.create(
            name=name,
            slug=slug or _unique_slug(name),
            task_type=task_type,
            labels=labels_checked,
            guidelines=guidelines,
            settings=settings_checked,
            created_by=created_by,
        )
        Membership.objects.create(user=created_by, project=project, role=Role.ADMIN)
        audit(created_by, "project.create", project=project, target=project.slug)
    return project


def _unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "project"
    slug, n = base, 1
    while Project.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def membership_set(
    *, project: Project, user: User, role: str, actor: User | None = None
) -> Membership:
    """Add a member or change their role. With an `actor`, only a project admin may."""
    if actor is not None:
        require(actor, project, Action.MANAGE)
    if role not in Role.values:
        raise ValidationError(f"unknown role {role!r}; use one of {', '.join(Role.values)}")
    with transaction.atomic():
        _keep_an_admin(project, user, role)
        membership, _ = Membership.objects.update_or_create(
            user=user, project=project, defaults={"role": role}
        )
        audit(actor, "membership.set", project=project, target=user.username, role=role)
    return membership


def membership_remove(*, project: Project, user: User, actor: User) -> None:
    require(actor, project, Action.MANAGE)
    with transaction.atomic():
        _keep_an_admin(project, user, None)
        Membership.objects.filter(project=project, user=user).delete()
        audit(actor, "membership.remove", project=project, target=user.username)


def _keep_an_admin(project: Project, user: User, new_role: str | None) -> None:
    """A project never loses its last admin (nobody could manage it any more)."""
    if new_role == Role.ADMIN:
        return
    admins = Membership.objects.select_for_update().filter(project=project, role=Role.ADMIN)
    if list(admins.values_list("user_id", flat=True)) == [user.pk]:
        raise ValidationError("a project keeps at least one admin; make someone else admin first")
