"""Editing a project's settings (models, thresholds, sampling, overlap), validated and audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from curator.models import Project, User
from curator.models.project_settings import ProjectSettings
from curator.permissions import Action, require
from curator.services.audit import audit


def project_settings_update(*, project: Project, user: User, changes: dict[str, Any]) -> Project:
    """Validate every change first (ProjectSettings' rules); store all or none. Empty text
    returns a key to its default. Raises ValidationError naming each refused field."""
    require(user, project, Action.MANAGE)
    parsed = ProjectSettings.parse_changes(changes)
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        settings = dict(locked.settings or {})
        for key, value in parsed.items():
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
        ProjectSettings.from_stored(settings)  # the document as a whole still reads
        locked.settings = settings
        locked.save(update_fields=["settings"])
        audit(user, "project.settings", project=locked, target=locked.slug, changes=parsed)
    return locked
