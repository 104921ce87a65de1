"""OpenAPI generation: every operation documents the error answers it can give."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema

ERROR_BODY = {
    "application/json": {
        "schema": {
            "type": "object",
            "description": "`detail` for errors, or field names mapped to lists of messages",
            "additionalProperties": True,
        }
    }
}
ERRORS = {
    "400": "The request was invalid (field errors or an unusable file).",
    "401": "Not authenticated.",
    "403": "Authenticated, but this role may not do this here.",
    "404": "No such object, or not a member of its project.",
    "405": "Method not allowed.",
    "409": "Not possible now (a round or job of this project is already running, ...).",
    "415": "Unsupported media type.",
    "503": "The task broker is unavailable; nothing was started.",
}


class CuratorAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code, description in ERRORS.items():
            responses.setdefault(code, {"description": description, "content": ERROR_BODY})
        return responses
