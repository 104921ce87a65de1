"""Log-in pages: the answer to a throttled attempt, the staff-only admin door, the account page.

Throttling itself is django-axes (`curator/services/login_throttle.py`): these views only
render its verdicts.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import authenticate, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.contrib.auth.password_validation import password_validators_help_texts
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curator.selectors import user_api_token
from curator.services.accounts import (
    account_password_set,
    api_token_expires_at,
    api_token_is_expired,
    api_token_issue,
    api_token_revoke,
)
from curator.services.login_throttle import seconds_until_allowed


def _wait_text(seconds: int) -> str:
    if seconds >= 120:
        return f"{(seconds + 59) // 60} minutes"
    return f"{seconds} seconds"


def lockout_wait(request: HttpRequest, credentials: dict | None = None) -> tuple[str, int]:
    """What a locked-out client is told, and the seconds for its Retry-After."""
    seconds = max(1, seconds_until_allowed(request, credentials))
    return f"Too many failed attempts. Try again in {_wait_text(seconds)}.", seconds


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict | None = None) -> HttpResponse:  # fmt: skip
    """`AXES_LOCKOUT_CALLABLE`: 429 and Retry-After; JSON for the API, else the log-in page."""
    text, seconds = lockout_wait(request, credentials)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": text}, status=429)
    else:
        form = AuthenticationForm(request)
        response = render(request, "registration/login.html",
                          {"form": form, "throttled": text}, status=429)  # fmt: skip
    response["Retry-After"] = str(seconds)
    return response


def admin_login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    """The admin is for staff: a signed-in non-staff user is told so, not shown a second log-in."""
    user = request.user
    if user.is_authenticated and not user.is_staff:
        return render(request, "registration/staff_only.html", status=403)
    return admin.site.login(request, extra_context)


class AccountPasswordForm(PasswordChangeForm):
    """Django's password change (its validators), with the old password checked through
    `authenticate` so that guessing it here is throttled like any log-in."""

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.request = request
        super().__init__(request.user, *args, **kwargs)

    def clean_old_password(self) -> str:
        old = self.cleaned_data["old_password"]
        if authenticate(self.request, username=self.user.get_username(), password=old) is None:
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old


def _account_page(request: HttpRequest, *, password_form: AccountPasswordForm | None = None,
                  new_key: str = "", status: int = 200) -> HttpResponse:  # fmt: skip
    token = user_api_token(request.user)
    context = {
        "token": token,
        "token_expires_at": api_token_expires_at(token) if token else None,
        "token_expired": api_token_is_expired(token) if token else False,
        "new_key": new_key,
        "password_form": password_form or AccountPasswordForm(request),
        "password_rules": password_validators_help_texts(),
    }
    return render(request, "curator/account.html", context, status=status)


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return _account_page(request)


@login_required
@require_POST
def account_token_create(request: HttpRequest) -> HttpResponse:
    # Shown once, in this answer only: never in a redirect's message cookie.
    token = api_token_issue(request.user)
    return _account_page(request, new_key=token.key)


@login_required
@require_POST
def account_token_revoke(request: HttpRequest) -> HttpResponse:
    if api_token_revoke(request.user):
        messages.success(request, "Your API token is revoked.")
    return redirect("account")


@login_required
@require_POST
def account_password(request: HttpRequest) -> HttpResponse:
    form = AccountPasswordForm(request, data=request.POST)
    if not form.is_valid():
        return _account_page(request, password_form=form, status=400)
    account_password_set(request.user, form.cleaned_data["new_password1"])
    update_session_auth_hash(request, request.user)
    messages.success(request, "Password changed. Any API token you had is revoked.")
    return redirect("account")
