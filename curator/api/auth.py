"""`POST /api/auth/token/` under the log-in throttle.

The token endpoint checks passwords through `authenticate`, so django-axes throttles and audits
it like `/login/`. Axes marks a locked-out attempt on DRF's request object, which its middleware
never sees, so the view answers the lock-out itself.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response

from curator.services.accounts import api_token_expires_at, api_token_for_login
from curator.views.auth import lockout_wait

TokenResponse = inline_serializer(
    "TokenResponse",
    {"token": serializers.CharField(), "expires_at": serializers.DateTimeField(allow_null=True)},
)


class ObtainToken(ObtainAuthToken):
    @extend_schema(
        request=ObtainAuthToken.serializer_class,
        responses={
            200: TokenResponse,
            400: OpenApiResponse(description="Wrong username or password."),
            429: OpenApiResponse(description="Too many failed attempts; see Retry-After."),
        },
        auth=[],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            if getattr(request, "axes_locked_out", False):
                text, seconds = lockout_wait(request, getattr(request, "axes_credentials", None))
                return Response({"detail": text}, status=429, headers={"Retry-After": str(seconds)})
            raise serializers.ValidationError(serializer.errors)
        token = api_token_for_login(serializer.validated_data["user"])
        return Response({"token": token.key, "expires_at": api_token_expires_at(token)})
