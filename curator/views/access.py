from __future__ import annotations

from django.http import Http404

from annotation.models import Assignment
from annotation.selectors import own_assignment
from curator.models import Project, User
from curator.permissions import Action, project_with_role, require, role_of


def project_for(user: User, slug: str, action: Action = Action.VIEW) -> Project:
    """The project if `user` may do `action` in it: 404 for outsiders (existence stays hidden),
    403 for members whose role does not allow it."""
    project = project_with_role(user, slug)
    if project is None or role_of(user, project) is None:
        raise Http404("no such project")
    require(user, project, action)
    return project


def own_assignment_for(
    user: User, slug: str, assignment_id: int, action: Action = Action.ANNOTATE
) -> Assignment:
    """The caller's own assignment in the project, if they may do `action` there: one query.
    A miss answers as `project_for` would (404 for outsiders, 403 for a role without
    `action`), else 404 for an assignment that is not theirs."""
    assignment = own_assignment(user, slug, assignment_id)
    if assignment is None:
        project_for(user, slug, action)
        raise Http404("no such assignment")
    if role_of(user, assignment.project) is None:
        raise Http404("no such project")
    require(user, assignment.project, action)
    return assignment
