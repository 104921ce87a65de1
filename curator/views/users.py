"""Staff create accounts and invite people; an invitee sets a password through the link."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from curator import selectors
from curator.models import Role, User
from curator.permissions import Action, can
from curator.services.users import (
    Invitation,
    invited_user,
    may_manage_users,
    user_invite,
    user_reinvite,
)
from curator.views.forms import InviteForm, errors_text


def _staff(request: HttpRequest) -> None:
    if not may_manage_users(request.user):
        raise Http404("no such page")  # like project creation: hidden from non-staff


def _link(request: HttpRequest, invitation: Invitation) -> str:
    return request.build_absolute_uri(
        reverse("invite-accept", args=[invitation.uidb64, invitation.token])
    )


@login_required
def users_page(request: HttpRequest) -> HttpResponse:
    _staff(request)
    projects = [
        p for p in selectors.projects_for(request.user) if can(request.user, p, Action.MANAGE)
    ]
    form = {"username": "", "email": "", "project": "", "role": Role.ANNOTATOR}
    error, link, invited = "", "", None
    if request.method == "POST":
        form = {key: request.POST.get(key, "") for key in form}
        posted = InviteForm(request.POST, projects=projects)
        try:
            if not posted.is_valid():
                raise ValidationError(errors_text(posted))
            data = posted.cleaned_data
            invited, invitation = user_invite(
                actor=request.user,
                username=data["username"],
                email=data["email"],
                project=data["project"],
                role=data["role"] if data["project"] else "",
            )
        except ValidationError as problem:
            error = " ".join(problem.messages)
        else:
            link = _link(request, invitation)
            form = {"username": "", "email": "", "project": "", "role": Role.ANNOTATOR}
    users = User.objects.order_by("username")
    return render(
        request,
        "curator/users.html",
        {
            "users": users,
            "form": form,
            "error": error,
            "link": link,
            "invited": invited,
            "projects": projects,
            "roles": Role.choices,
        },
        status=400 if error else 200,
    )


@login_required
@require_POST
def user_reinvite_view(request: HttpRequest, user_id: int) -> HttpResponse:
    _staff(request)
    user = get_object_or_404(User, pk=user_id)
    link = _link(request, user_reinvite(actor=request.user, user=user))
    messages.success(request, f"New one-time link for {user.username}: {link}")
    return redirect("users")


def invite_accept(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The invitee chooses a password (Django's validators apply), then is logged in."""
    user = invited_user(uidb64, token)
    if user is None:
        return render(request, "registration/invite_invalid.html", status=404)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()  # the new password hash voids the link: it worked once
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}: your password is set.")
        return redirect("project-list")
    return render(
        request,
        "registration/invite_accept.html",
        {"form": form, "invitee": user},
        status=400 if form.errors else 200,
    )
