"""A user's own account: API tokens (issue, revoke, expiry) and password changes.

A token expires `CURATOR_API_TOKEN_DAYS` after it was made (0: never) and is revoked whenever the
user's password changes, by whatever path it changes (the account page, the admin,
`manage.py changepassword`): `revoke_tokens_on_password_change` watches the user row for that.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from curator.models import User
from curator.services.audit import audit


def api_token_expires_at(token: Token) -> datetime | None:
    days = settings.CURATOR_API_TOKEN_DAYS
    return token.created + timedelta(days=days) if days > 0 else None


def api_token_is_expired(token: Token, *, now: datetime | None = None) -> bool:
    expires_at = api_token_expires_at(token)
    return expires_at is not None and (now or timezone.now()) >= expires_at


def api_token_current(user: User) -> Token | None:
    """The user's token if it still works."""
    token = Token.objects.filter(user=user).first()
    return token if token is not None and not api_token_is_expired(token) else None


@transaction.atomic
def api_token_issue(user: User) -> Token:
    """A fresh token for the user; the one they had stops working."""
    had = Token.objects.filter(user=user).delete()[0] > 0
    token = Token.objects.create(user=user)
    audit(user, "api_token.rotate" if had else "api_token.create", target=user.username)
    return token


def api_token_for_login(user: User) -> Token:
    """What `POST /api/auth/token/` hands out: the working token, or a new one."""
    return api_token_current(user) or api_token_issue(user)


def api_token_revoke(user: User) -> bool:
    revoked = Token.objects.filter(user=user).delete()[0] > 0
    if revoked:
        audit(user, "api_token.revoke", target=user.username)
    return revoked


def account_password_set(user: User, password: str) -> None:
    """Set a password the form already validated; the user's API token goes with the old one."""
    user.set_password(password)
    user.save(update_fields=["password"])
    audit(user, "account.password_change", target=user.username)


def revoke_tokens_on_password_change(sender: Any, instance: User, update_fields: Any = None,
                                     **kwargs: Any) -> None:  # fmt: skip
    """pre_save of the user: a new password revokes the API token.

    A signal, because passwords change outside our services too (the admin's forms, the
    `changepassword` command). Django also re-hashes an unchanged password when its hasher
    settings change; that keeps the token.
    """
    if instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    old_hash = User.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if old_hash is None or old_hash == instance.password:
        return
    raw = getattr(instance, "_password", None)  # the plain text set_password() was given
    if raw is not None and check_password(raw, old_hash):
        return
    Token.objects.filter(user_id=instance.pk).delete()
