from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404

from curator.models import Project, User
from curator.permissions import Action, require, role_of


def project_for(user: User, slug: str, action: Action = Action.VIEW) -> Project:
    """The project if `user` may do `action` in it: 404 for outsiders (existence stays hidden),
    403 for members whose role does not allow it."""
    project = get_object_or_404(Project, slug=slug)
    if role_of(user, project) is None:
        raise Http404("no such project")
    require(user, project, action)
    return project
