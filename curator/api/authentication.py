"""The API's token authentication (its own module: DRF imports it while loading its views)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from curator.selectors import api_token_with_user
from curator.services.accounts import api_token_is_expired


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token, refused once `CURATOR_API_TOKEN_DAYS` have passed since it was made."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        # DRF's own checks and messages, on a read written out once (every API call makes it).
        token = api_token_with_user(key)
        if token is None:
            raise AuthenticationFailed(_("Invalid token."))
        user = token.user
        if not user.is_active:
            raise AuthenticationFailed(_("User inactive or deleted."))
        if api_token_is_expired(token):
            raise AuthenticationFailed("Token expired: get a new one on your account page.")
        return user, token
