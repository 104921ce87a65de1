"""The audit log: who did what to which project, for admin and curator actions."""

from __future__ import annotations

from typing import Any

from curator.models import AuditEvent, Project, User


def audit(actor: User | None, action: str, *, project: Project | None = None, target: str = "",
          **details: Any) -> AuditEvent:  # fmt: skip
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        project=project,
        action=action,
        target=str(target)[:200],
        details=details,
    )
