"""Project admins manage who belongs to the project and in which role."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curator.models import Membership, Role, User
from curator.permissions import Action
from curator.services.projects import membership_remove, membership_set
from curator.views.access import project_for
from curator.views.forms import MemberForm, errors_text


@login_required
def members(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(request.user, slug, Action.MANAGE)
    if request.method == "POST":
        form = MemberForm(request.POST)
        if not form.is_valid():
            messages.error(request, errors_text(form))
        elif (user := User.objects.filter(username=form.cleaned_data["username"]).first()) is None:
            messages.error(request, f"No user named {form.cleaned_data['username']!r}.")
        else:
            role = form.cleaned_data["role"]
            try:
                membership_set(project=project, user=user, role=role, actor=request.user)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                messages.success(request, f"{user.username} is now {role}.")
        return redirect("project-members", slug=slug)
    rows = (
        Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    )
    return render(
        request,
        "curator/members.html",
        {"project": project, "memberships": rows, "roles": Role.choices},
    )


@login_required
@require_POST
def member_remove(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    project = project_for(request.user, slug, Action.MANAGE)
    user = User.objects.filter(pk=user_id).first()
    if user is not None:
        try:
            membership_remove(project=project, user=user, actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"{user.username} removed from the project.")
    return redirect("project-members", slug=slug)
