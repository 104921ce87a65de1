"""Domain errors every floor may raise; the API maps them to status codes in one place."""

from __future__ import annotations


class NotStartable(ValueError):
    """A job or round cannot start now (one is running, the data is not ready)."""
