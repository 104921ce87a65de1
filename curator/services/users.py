"""Staff create accounts and invite people with a one-time link; the invitee sets a password.

The link carries Django's password-reset token: it is tied to the account's password hash and
last log-in, so it stops working once a password is set (one use) and after
PASSWORD_RESET_TIMEOUT. No password travels by mail or chat, and staff never know it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from curator.models import Project, User
from curator.services.audit import audit
from curator.services.projects import membership_set


@dataclass(frozen=True)
class Invitation:
    """What the invite link carries: the account (encoded) and its one-time token."""

    uidb64: str
    token: str


def may_manage_users(user: User) -> bool:
    return user.is_authenticated and (user.is_staff or user.is_superuser)


def _require_staff(actor: User) -> None:
    if not may_manage_users(actor):
        raise PermissionDenied("only staff create and invite users")


def user_invite(
    *,
    actor: User,
    username: str,
    email: str = "",
    project: Project | None = None,
    role: str = "",
) -> tuple[User, Invitation]:
    """Create an account without a usable password (nobody can log in as it until the invitee
    sets one) and, optionally, make it a member of a project."""
    _require_staff(actor)
    username = username.strip()
    if not username:
        raise ValidationError({"username": "give the user a name to log in with"})
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": f"a user named {username!r} exists already"})
    with transaction.atomic():
        user = User(username=username, email=email.strip())
        user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
        if project is not None and role:
            membership_set(project=project, user=user, role=role, actor=actor)
        audit(actor, "user.invite", project=project, target=username, role=role)
    return user, invitation_for(user)


def invitation_for(user: User) -> Invitation:
    """A fresh link for an account (staff re-send one that expired)."""
    return Invitation(
        uidb64=urlsafe_base64_encode(force_bytes(user.pk)),
        token=default_token_generator.make_token(user),
    )


def user_reinvite(*, actor: User, user: User) -> Invitation:
    _require_staff(actor)
    audit(actor, "user.reinvite", target=user.username)
    return invitation_for(user)


def invited_user(uidb64: str, token: str) -> User | None:
    """The account an invite link is for, if the link is still good; else None."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user
