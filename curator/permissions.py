"""Who may do what in a project. Views, the API and services ask here; templates never decide."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied

from curator.errors import error_summary
from curator.models import Membership, Project, Role, User
from curator.models.rows import columns, from_row, prepared_cursor


class Action(StrEnum):
    VIEW = "view"
    ANNOTATE = "annotate"
    IMPORT = "import"
    REVIEW = "review"
    RUN_MODEL_JOB = "run_model_job"
    START_ROUND = "start_round"
    PROMOTE_MODEL = "promote_model"
    MANAGE = "manage"
    # Which records are gold or spot checks, gold payloads and the truths they hold: hidden from
    # annotators, who are measured by them and must not tell them from ordinary records.
    SEE_BLIND = "see_blind"
    # Labels other people gave (round snapshots, diffs, record pages): hidden from annotators,
    # so a relabel of a flagged record stays independent.
    SEE_OTHERS_LABELS = "see_others_labels"
    # A failed job's traceback (server paths, library versions): infrastructure detail.
    SEE_TRACEBACKS = "see_tracebacks"


ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.ANNOTATOR: frozenset({Action.VIEW, Action.ANNOTATE}),
    Role.CURATOR: frozenset(
        {
            Action.VIEW,
            Action.ANNOTATE,
            Action.IMPORT,
            Action.REVIEW,
            Action.RUN_MODEL_JOB,
            Action.SEE_BLIND,
            Action.SEE_OTHERS_LABELS,
        }
    ),
    Role.ADMIN: frozenset(Action),
}


def project_with_role(user: User, slug: str) -> Project | None:
    """The project named `slug`, read together with `user`'s role in it (one query, where a
    request used to ask twice); the role is remembered for `role_of`.

    Written out in SQL and prepared: every project page and API call reads it, and the ORM
    spent longer compiling it than PostgreSQL spent answering."""
    with prepared_cursor() as cursor:
        cursor.execute(_PROJECT_WITH_ROLE, {"slug": slug, "user": user.pk})
        row = cursor.fetchone()
    if row is None:
        return None
    project = from_row(Project, row[:-1])
    if user.is_authenticated and not user.is_superuser:  # role_of asks nothing for the rest
        role_remember(user, project.pk, row[-1])
    return project


_PROJECT_WITH_ROLE = f"""
    SELECT {columns(Project, "p")},
        (SELECT m.role FROM {Membership._meta.db_table} m
         WHERE m.project_id = p.id AND m.user_id = %(user)s ORDER BY m.id LIMIT 1)
    FROM {Project._meta.db_table} p
    WHERE p.slug = %(slug)s
"""  # noqa: S608 - table and column names from model metadata, values are parameters


def role_remember(user: User, project_id: int, role: str | None) -> None:
    """Keep a role read together with something else, so that `role_of` asks nothing."""
    _roles(user)[project_id] = role


def _roles(user: User) -> dict[int, str | None]:
    # User objects live for one request (or one task), so a role change is seen on the next one.
    return user.__dict__.setdefault("_curator_roles", {})


def role_of(user: User, project: Project) -> str | None:
    """The user's role in the project; remembered on the user object for the request."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    cache = _roles(user)
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


def _may(user: User | None, project: Project, action: Action) -> bool:
    # No viewer (a serializer used without a request): show only what everyone may see.
    return user is not None and can(user, project, action)


# --- what a viewer may see of a job, a round or a model version --------------------------------

# Parameters that name places on the server (an upload's file on disk) are shown to nobody: the
# original file name is kept beside them for people.
SERVER_ONLY_PARAMS = frozenset({"path"})
# Parameters that quote people's labels (a pre-label job's few-shot examples).
LABEL_PARAMS = frozenset({"examples"})


def job_params_shown(user: User | None, project: Project, params: dict[str, Any]) -> dict[str, Any]:
    hidden = SERVER_ONLY_PARAMS
    if not _may(user, project, Action.SEE_OTHERS_LABELS):
        hidden = hidden | LABEL_PARAMS
    return {key: value for key, value in params.items() if key not in hidden}


def job_error_shown(user: User | None, project: Project, error: str) -> str:
    """A failed job's error: the whole traceback for administrators, a short message without
    server paths for everyone else."""
    if not error or _may(user, project, Action.SEE_TRACEBACKS):
        return error
    return error_summary(error)


def metrics_shown(user: User | None, project: Project, metrics: dict[str, Any]) -> dict[str, Any]:
    """A round's, job's or model version's metrics as `user` may read them. An LLM evaluation's
    samples quote gold prompts and people's reference answers, which annotators must not see
    (gold checks them); a failure keeps its message without server detail."""
    if not isinstance(metrics, dict):
        return metrics
    shown = dict(metrics)
    evaluation = shown.get("evaluation")
    if (
        isinstance(evaluation, dict)
        and "samples" in evaluation
        and not _may(user, project, Action.SEE_BLIND)
    ):
        shown["evaluation"] = {key: v for key, v in evaluation.items() if key != "samples"}
    if isinstance(shown.get("error"), str):
        shown["error"] = job_error_shown(user, project, shown["error"])
    return shown
