"""The API's token authentication (its own module: DRF imports it while loading its views)."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from curator.services.accounts import api_token_is_expired


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token, refused once `CURATOR_API_TOKEN_DAYS` have passed since it was made."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        user, token = super().authenticate_credentials(key)
        if api_token_is_expired(token):
            raise AuthenticationFailed("Token expired: get a new one on your account page.")
        return user, token
