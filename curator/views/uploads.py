"""The upload size limit, enforced while the body streams in.

Django's own handlers spool any upload to a temporary file before a view can look at its size,
so a 50 GB body would fill the disk before being refused. This handler, first in
FILE_UPLOAD_HANDLERS, refuses a body whose declared length is over the limit before reading it,
and stops a file mid-stream as soon as its bytes pass the limit (a client may lie about the
length or send it chunked). Refusal is Django's RequestDataTooBig: a 400 with the reason.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler


def _too_big() -> RequestDataTooBig:
    return RequestDataTooBig(
        f"The upload is larger than the limit of {settings.CURATOR_MAX_UPLOAD_BYTES} bytes."
    )


class LimitedUploadHandler(FileUploadHandler):
    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: bytes,
        encoding: str | None = None,
    ) -> None:
        # The multipart framing adds a little; a body over the limit plus 64 KiB is refused
        # before a byte of it is read.
        if content_length > settings.CURATOR_MAX_UPLOAD_BYTES + 65_536:
            raise _too_big()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > settings.CURATOR_MAX_UPLOAD_BYTES:
            raise _too_big()
        return raw_data  # the next handler (memory or temporary file) keeps it

    def file_complete(self, file_size: int) -> None:
        return None
