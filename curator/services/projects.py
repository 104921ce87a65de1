"""Creating projects and managing who belongs to them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from curator.models import Membership, Project, Role, TaskType, User
from curator.services.audit import audit

MAX_NUMBER_KEYS = 9


def normalise_labels(labels: list[Any]) -> list[dict[str, str]]:
    """Accept ["pos", "neg"] or [{"value": "pos", "name": "Positive"}]; refuse repeats, blanks."""
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
    if not 2 <= len(result) <= MAX_NUMBER_KEYS:
        raise ValidationError(f"a classification project needs 2 to {MAX_NUMBER_KEYS} labels")
    return result


def project_create(
    *,
    name: str,
    labels: list[Any],
    created_by: User,
    guidelines: str = "",
    task_type: str = TaskType.CLASSIFICATION,
    settings: dict[str, Any] | None = None,
    slug: str | None = None,
) -> Project:
    """Create a project; its creator becomes its first admin."""
    with transaction.atomic():
        project = Project.objects.create(
            name=name,
            slug=slug or _unique_slug(name),
            task_type=task_type,
            labels=normalise_labels(labels),
            guidelines=guidelines,
            settings=settings or {},
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
    if role not in Role.values:
        raise ValidationError(f"unknown role {role!r}")
    membership, _ = Membership.objects.update_or_create(
        user=user, project=project, defaults={"role": role}
    )
    audit(actor, "membership.set", project=project, target=user.username, role=role)
    return membership
