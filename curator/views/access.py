from __future__ import annotations

from django.http import Http404

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
