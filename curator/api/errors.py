"""One place that turns service errors into HTTP answers for the whole API.

Services raise Django's ValidationError (about a named input where they know it), the job
runtime's NotStartable and BrokerUnavailable, the import parser's ImportFormatError; Http404
and PermissionDenied become 404 and 403 in DRF's own handler. Views do not map errors by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler, set_rollback

from curator.errors import NotStartable
from curator.importing.parsers import ImportFormatError
from curator.services.jobs import BrokerUnavailable
from curator.services.model_versions import PromotionRefused

logger = logging.getLogger(__name__)


def api_exception_handler(error: Exception, context: dict[str, Any]) -> Response | None:
    response = _domain_error_response(error) or exception_handler(error, context)
    if response is None:
        # A bug, not a refusal: logged with its traceback, answered as JSON like every other
        # API error (never the HTML error page), with nothing of the request kept.
        logger.error("API error in %s", context.get("view"), exc_info=error)
        response = Response(
            {"detail": "Server error; it has been logged."},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    set_rollback()  # as DRF's own handler: nothing of a refused request is kept
    return response


def _domain_error_response(error: Exception) -> Response | None:
    if isinstance(error, DjangoValidationError):
        # {"field": ["message", ...]} like a serializer's errors; without a field, the
        # serializer convention for errors about the request as a whole.
        body = (
            error.message_dict
            if hasattr(error, "error_dict")
            else {api_settings.NON_FIELD_ERRORS_KEY: error.messages}
        )
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(error, NotStartable | PromotionRefused):
        return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
    if isinstance(error, BrokerUnavailable):
        return Response({"detail": str(error)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(error, ImportFormatError):
        return Response({"file": [error.problem]}, status=status.HTTP_400_BAD_REQUEST)
    return None
