from __future__ import annotations

import copy
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import models

from annotation import task_types
from curator.models.project_settings import DEFAULTS, FIELDS, ProjectSettings


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    CURATOR = "curator", "Curator"
    ADMIN = "admin", "Admin"


# Defaults of Project.settings, by key (the typed object is ProjectSettings).
PROJECT_SETTING_DEFAULTS: dict[str, Any] = DEFAULTS


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    # The task types and their rules: annotation.task_types (its registry is the one list).
    task_type = models.CharField(
        max_length=32, choices=task_types.choices(), default=task_types.CLASSIFICATION
    )
    # [{"value": "positive", "name": "Positive"}, ...]; the order gives the number keys 1..9.
    labels = models.JSONField(default=list)
    # What the project is for, on the project list and page (guidelines say how to label).
    description = models.TextField(blank=True, default="", db_default="")
    guidelines = models.TextField(blank=True)
    settings = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def settings_obj(self) -> ProjectSettings:
        """The stored settings, parsed and validated once per version of the document.

        Cached against a copy of the document rather than with cached_property: code assigns
        `project.settings` (or reloads it) and keeps using the same instance.
        """
        stored = self.settings or {}
        cached: tuple[dict[str, Any], ProjectSettings] | None = self.__dict__.get("_settings_cache")
        if cached is None or cached[0] != stored:
            cached = (copy.deepcopy(stored), ProjectSettings.from_stored(stored))
            self.__dict__["_settings_cache"] = cached
        return cached[1]

    def setting(self, key: str) -> Any:
        """One setting by name; prefer `settings_obj.<name>`, which is typed."""
        if key not in FIELDS:
            raise KeyError(key)
        return getattr(self.settings_obj, key)

    def clean(self) -> None:
        # The admin's form: refuse a settings document the code could not read.
        try:
            ProjectSettings.from_stored(self.settings)
        except ValidationError as error:
            raise ValidationError(
                {"settings": [f"{key}: {'; '.join(m)}" for key, m in error.message_dict.items()]}
            ) from None

    @property
    def label_values(self) -> list[str]:
        return [str(label["value"]) for label in self.labels]


class Membership(models.Model):
    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.project}"
