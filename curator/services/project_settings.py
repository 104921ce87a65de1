"""Editing a project's settings (models, thresholds, sampling, overlap), validated and audited."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from curator.models import Project, User
from curator.permissions import Action, require
from curator.services.audit import audit

SAMPLING = ("hybrid", "entropy", "committee")
CONSENSUS = ("majority", "dawid_skene")
TRAINERS = ("logreg", "finetune")


def _integer(low: int, high: int):
    def parse(value: Any) -> int:
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def _fraction(value: Any) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise ValueError("must be between 0 and 1")
    return number


def _fraction_at_most(high: float):
    def parse(value: Any) -> float:
        number = _fraction(value)
        if number > high:
            raise ValueError(f"must be between 0 and {high}")
        return number

    return parse


def _choice(choices: tuple[str, ...]):
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return str(value)

    return parse


def _text(limit: int):
    def parse(value: Any) -> str | None:
        text = str(value).strip()
        if len(text) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return text or None  # empty: back to the default

    return parse


def _boolean(value: Any) -> bool:
    return value in (True, "true", "on", "1", 1)


EDITABLE: dict[str, Any] = {
    "overlap": _integer(1, 20),
    "lease_seconds": _integer(30, 24 * 3600),
    "sampling": _choice(SAMPLING),
    "batch_size": _integer(1, 10_000),
    "committee_size": _integer(0, 20),
    "auto_accept_threshold": _fraction,
    "spot_check_rate": _fraction,
    "toxicity_threshold": _fraction,
    "score_toxicity_on_import": _boolean,
    "encoder_model": _text(300),
    "llm_model": _text(300),
    "toxicity_model": _text(300),
    "prelabel_system": _text(4000),
    "prelabel_user": _text(2000),
    "gold_rate": _fraction_at_most(0.5),
    "consensus": _choice(CONSENSUS),
    "coreset_size": _integer(0, 1_000_000),
    "trainer": _choice(TRAINERS),
    "finetune_epochs": _integer(1, 50),
}


def project_settings_update(*, project: Project, user: User, changes: dict[str, Any]) -> Project:
    """Validate every change first; store all or none. Empty text returns a key to its default."""
    require(user, project, Action.MANAGE)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationError({key: "not a project setting" for key in sorted(unknown)})
    parsed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in changes.items():
        try:
            parsed[key] = EDITABLE[key](value)
        except (TypeError, ValueError) as error:
            errors[key] = str(error) if str(error) else "invalid value"
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        settings = dict(locked.settings or {})
        for key, value in parsed.items():
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
        locked.settings = settings
        locked.save(update_fields=["settings"])
        audit(user, "project.settings", project=locked, target=locked.slug, changes=parsed)
    return locked
