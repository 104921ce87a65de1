"""Log-in with throttling: repeated failures for one username or one address are refused."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from curator.services.audit import audit


def _keys(request: HttpRequest) -> list[tuple[str, int]]:
    username = (request.POST.get("username") or "").strip().lower()
    address = request.META.get("REMOTE_ADDR", "")
    limit = settings.LOGIN_FAILURE_LIMIT
    digest = hashlib.sha256(username.encode()).hexdigest()[:32]
    return [(f"login-failures:user:{digest}", limit), (f"login-failures:ip:{address}", 4 * limit)]


def _blocked(request: HttpRequest) -> bool:
    return any((cache.get(key) or 0) >= limit for key, limit in _keys(request))


def _count_failure(request: HttpRequest) -> None:
    for key, _ in _keys(request):
        cache.add(key, 0, settings.LOGIN_FAILURE_WINDOW)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, settings.LOGIN_FAILURE_WINDOW)


class ThrottledLoginView(auth_views.LoginView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if _blocked(request):
            minutes = max(1, settings.LOGIN_FAILURE_WINDOW // 60)
            form = self.get_form()
            form.errors.clear()
            context = self.get_context_data(
                form=form,
                throttled=f"Too many failed attempts. Try again in {minutes} minutes.",
            )
            return self.render_to_response(context, status=429)
        response = super().post(request, *args, **kwargs)
        if response.status_code != 302:
            _count_failure(request)
            audit(None, "login.failed", target=request.POST.get("username", "")[:150])
        return response
