"""Who may do what in a project. Views, the API and services ask here; templates never decide."""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied

from curator.models import Membership, Project, Role, User


class Action(StrEnum):
    VIEW = "view"
    ANNOTATE = "annotate"
    IMPORT = "import"
    REVIEW = "review"
    RUN_MODEL_JOB = "run_model_job"
    START_ROUND = "start_round"
    PROMOTE_MODEL = "promote_model"
    MANAGE = "manage"


ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.ANNOTATOR: frozenset({Action.VIEW, Action.ANNOTATE}),
    Role.CURATOR: frozenset(
        {Action.VIEW, Action.ANNOTATE, Action.IMPORT, Action.REVIEW, Action.RUN_MODEL_JOB}
    ),
    Role.ADMIN: frozenset(Action),
}


def role_of(user: User, project: Project) -> str | None:
    """The user's role in the project; remembered on the user object for the request."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    # User objects live for one request (or one task), so a role change is seen on the next one.
    cache: dict[int, str | None] = user.__dict__.setdefault("_curator_roles", {})
    if project.pk not in cache:
        cache[project.pk] = (
            Membership.objects.filter(user=user, project=project)
            .values_list("role", flat=True)
            .first()
        )
    return cache[project.pk]


def can(user: User, project: Project, action: Action) -> bool:
    role = role_of(user, project)
    return role is not None and action in ROLE_ACTIONS[role]


def require(user: User, project: Project, action: Action) -> None:
    if not can(user, project, action):
        raise PermissionDenied(f"you may not {action.value.replace('_', ' ')} in this project")
