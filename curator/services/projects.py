"""Creating projects and managing who belongs to them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils.text import slugify

from annotation import task_types
from annotation.models import Annotation
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


class LabelRemovalUnconfirmed(ValidationError):
    """Labels still in use would leave the project: the admin must confirm, knowing what follows."""

    def __init__(self, uses: dict[str, int]) -> None:
        self.uses = uses
        listed = ", ".join(f"{value!r} ({count} label{'s' if count != 1 else ''})"
                           for value, count in uses.items())  # fmt: skip
        super().__init__(
            f"Removing {listed} needs your confirmation. Existing labels are never rewritten: "
            "they keep the value people chose, still count in agreement and still train the "
            "next round unless those records are relabeled or settled in review. Annotators "
            "are no longer offered the removed label."
        )


def labels_in_use(project: Project, values: set[str]) -> dict[str, int]:
    """How many stored labels (annotations of any source) use each of these label values."""
    if not values:
        return {}
    task = task_types.get(project.task_type)
    uses = dict.fromkeys(sorted(values), 0)
    # One row per distinct stored value: a handful for a label set, however many records.
    distinct = (
        Annotation.objects.filter(project=project)
        .values("value")
        .annotate(n=Count("id"))
        .values_list("value", "n")
    )
    for value, n in distinct:
        for used in task.labels_in(value) & values:
            uses[used] += n
    return {value: count for value, count in uses.items() if count}


def project_update(
    *,
    project: Project,
    user: User,
    name: str,
    description: str,
    guidelines: str,
    labels: list[Any],
    confirm_removal: bool = False,
) -> Project:
    """Admins edit a project's name, description, guidelines and label set.

    Adding a label or renaming one (a new name for the same value) is always safe. Removing a
    value that stored labels use raises LabelRemovalUnconfirmed unless `confirm_removal`:
    labels are never rewritten, so the admin should know they stay as they are.
    """
    require(user, project, Action.MANAGE)
    name = name.strip()
    if not name:
        raise ValidationError({"name": "give the project a name"})
    with field_errors("labels"):
        labels_checked = normalise_labels(labels, project.task_type)
    before = {label["value"]: label["name"] for label in project.labels}
    after = {label["value"]: label["name"] for label in labels_checked}
    removed = set(before) - set(after)
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project.pk)
        uses = labels_in_use(project, removed)
        if uses and not confirm_removal:
            raise LabelRemovalUnconfirmed(uses)
        project.name = name
        project.description = description
        project.guidelines = guidelines
        project.labels = labels_checked
        project.save(update_fields=["name", "description", "guidelines", "labels"])
        audit(
            user, "project.update", project=project, target=project.slug,
            added=sorted(set(after) - set(before)), removed=sorted(removed),
            renamed=sorted(v for v in set(before) & set(after) if before[v] != after[v]),
            removed_in_use=uses,
        )  # fmt: skip
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
