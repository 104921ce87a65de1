"""Throttling and auditing every password check, through django-axes.

Every way in (`/login/`, `/admin/login/`, `POST /api/auth/token/`) calls
`django.contrib.auth.authenticate`, so axes sees each of them: its backend refuses a locked-out
pair before the password is checked, and its `user_login_failed` receiver counts failures with the
handler below. The settings point axes at the functions here (`AXES_*` in `curator/settings.py`).

Failures count per (username, client address) pair: a stranger failing with a victim's username
locks only themselves out, and one address failing with many usernames locks nobody else. The
wait grows with the failures: none before `LOGIN_FAILURE_LIMIT`, then `LOGIN_DELAY_SECONDS`,
doubling with each further failure up to `LOGIN_MAX_DELAY_SECONDS`.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.http import HttpRequest
from django.utils import timezone

from curator.services.audit import audit

USERNAME_MAX_LENGTH = 150


def client_address(request: HttpRequest) -> str | None:
    """The address of the client as the outermost trusted proxy saw it.

    With `CURATOR_PROXY_COUNT = n` proxies in front, each appends the address it received from
    to X-Forwarded-For, so the n-th entry from the right is the one no client can forge; with no
    proxy, X-Forwarded-For is the client's own words and REMOTE_ADDR is the truth.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    count = settings.CURATOR_PROXY_COUNT
    if count > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= count:
            remote = hops[-count]
    try:
        return str(ipaddress.ip_address(remote)) if remote else None
    except ValueError:  # a proxy that forwards garbage: throttle on the proxy's own address
        fallback = request.META.get("REMOTE_ADDR") or None
        return fallback if fallback != remote else None


def attempted_username(
    request: HttpRequest, credentials: dict[str, Any] | None = None
) -> str | None:
    """The username a request tried, cut and cleaned so it can always be stored and audited."""
    field = settings.AXES_USERNAME_FORM_FIELD
    # DRF's request carries the parsed body in .data (JSON too), Django's in .POST.
    source: Any = credentials or getattr(request, "data", None) or request.POST
    value = source.get(field) if hasattr(source, "get") else None
    if value is None:
        return None
    return str(value).replace("\x00", "")[:USERNAME_MAX_LENGTH]


def failure_limit(request: HttpRequest | None = None, credentials: dict | None = None) -> int:
    return settings.LOGIN_FAILURE_LIMIT


def delay_after(failures: int) -> timedelta:
    """How long a pair waits after this many remembered failures."""
    if failures < settings.LOGIN_FAILURE_LIMIT:
        return timedelta(0)
    doublings = min(failures - settings.LOGIN_FAILURE_LIMIT, 32)
    seconds = min(settings.LOGIN_DELAY_SECONDS * 2**doublings, settings.LOGIN_MAX_DELAY_SECONDS)
    return timedelta(seconds=seconds)


def _pair_failures(username: str | None, address: str | None) -> tuple[int, datetime | None]:
    """Failures remembered for the pair, over every user agent (changing it must not help)."""
    since = timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_MEMORY)
    row = AccessAttempt.objects.filter(
        username=username, ip_address=address, attempt_time__gt=since
    ).aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    return row["failures"] or 0, row["last"]


def _client(request: HttpRequest, credentials: dict | None) -> tuple[str | None, str | None]:
    address = getattr(request, "axes_ip_address", None) or client_address(request)
    return get_client_username(request, credentials), address


def lockout_delay(request: HttpRequest | None = None) -> timedelta:
    """`AXES_COOLOFF_TIME`: the wait of the pair this request belongs to."""
    if request is None:
        return timedelta(seconds=settings.LOGIN_DELAY_SECONDS)
    failures, _ = _pair_failures(*_client(request, None))
    return delay_after(failures)


def seconds_until_allowed(request: HttpRequest, credentials: dict | None = None) -> int:
    failures, last = _pair_failures(*_client(request, credentials))
    if last is None:
        return 0
    remaining = last + delay_after(failures) - timezone.now()
    return max(0, int(remaining.total_seconds() + 0.999))


class AuditedAxesHandler(AxesDatabaseHandler):
    """Axes' database handler with a progressive delay, and every failure in the audit log."""

    def get_failures(self, request: Any, credentials: dict | None = None) -> int:
        # Axes counts only attempts newer than one cool-off; ours are remembered for a day and
        # the pair is locked while its last failure is younger than the delay its count earned.
        failures, last = _pair_failures(*_client(request, credentials))
        if last is None:
            return 0
        now = getattr(request, "axes_attempt_time", None) or timezone.now()
        locked = now <= last + delay_after(failures) and failures >= settings.LOGIN_FAILURE_LIMIT
        return failures if locked else 0

    def clean_expired_user_attempts(self, request: Any = None, credentials: Any = None) -> int:
        since = timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_MEMORY)
        count, _ = AccessAttempt.objects.filter(attempt_time__lte=since).delete()
        return count

    def user_login_failed(self, sender: Any, credentials: dict, request: Any = None,
                          **kwargs: Any) -> None:  # fmt: skip
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None:
            return
        username, address = _client(request, credentials)
        audit(
            None,
            "login.failed",
            target=username or "",
            address=address,
            path=str(getattr(request, "path", "")).replace("\x00", "")[:200],
            locked_out=bool(getattr(request, "axes_locked_out", False)),
        )


class ThrottleBackend(AxesStandaloneBackend):
    """Axes' backend, which refuses a locked-out pair before any password is checked.

    A password check without a request (the test client's `login`, a shell) has no client to
    throttle; axes would raise, so it is passed on to the next backend unthrottled.
    """

    def authenticate(self, request: Any, username: str | None = None,
                     password: str | None = None, **kwargs: Any) -> None:  # fmt: skip
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
