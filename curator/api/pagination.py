"""The API's one paging scheme: a keyset cursor over ids."""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination

# PostgreSQL's bigint: a larger position would fail in the database, not here.
MAX_ID = 2**63 - 1


class IdCursor(CursorPagination):
    """CursorPagination ordered by id whose cursor position must be an id: DRF would put any
    text of a hand-made cursor into the query (`id > 'abc'`, a 500)."""

    ordering = "id"

    def decode_cursor(self, request) -> Cursor | None:
        cursor = super().decode_cursor(request)
        position = cursor.position if cursor is not None else None
        if position is not None and not (
            position.isascii() and position.isdigit() and int(position) <= MAX_ID
        ):
            raise NotFound(self.invalid_cursor_message)
        return cursor
