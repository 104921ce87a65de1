"""One place that turns service errors into HTTP answers for the whole API."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from curator.importing.parsers import ImportFormatError
from curator.services.jobs import BrokerUnavailable, NotStartable
from curator.services.model_versions import PromotionRefused


def api_exception_handler(error: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(error, NotStartable | PromotionRefused):
        return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
    if isinstance(error, BrokerUnavailable):
        return Response({"detail": str(error)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(error, ImportFormatError):
        return Response({"file": [error.problem]}, status=status.HTTP_400_BAD_REQUEST)
    return exception_handler(error, context)
