"""Refuse a NUL character in query strings and form posts before any view runs.

PostgreSQL stores no NUL character in text, so such a value would end in a database error (a
500) wherever a view stores or filters by it. One check here covers every form and query
parameter; JSON bodies are checked by the API's parser (`curator/api/parsers.py`).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError

MESSAGE = "Text must not contain NUL characters."
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RefuseNulCharacters:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": MESSAGE}, status=400)
            return HttpResponseBadRequest(MESSAGE)
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path or _any_nul(request.GET.lists()):
        return True
    if request.method != "POST" or not request.content_type.startswith(FORM_TYPES):
        return False
    try:
        posted = request.POST
        names = [upload.name or "" for upload in request.FILES.values()]
    except MultiPartParserError:
        return False  # the view's own parsing answers it
    return _any_nul(posted.lists()) or any("\x00" in name for name in names)


def _any_nul(items) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in items)
