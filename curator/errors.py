"""Domain errors every floor may raise; the API maps them to status codes in one place."""

from __future__ import annotations

import re


class NotStartable(ValueError):
    """A job or round cannot start now (one is running, the data is not ready)."""


# Where a job's message ends and the traceback the runtime appends begins.
TRACEBACK_START = "Traceback (most recent call last):"
# An absolute POSIX path of two or more parts (not the tail of a URL or of another path).
_SERVER_PATH = re.compile(r"(?<![\w:/.~-])/(?:[\w.~-]+/)+([\w.~-]+)")
MAX_SUMMARY = 500


def error_summary(error: str) -> str:
    """What a failed job's error says to people who are not administrators: the message without
    the traceback, with server paths cut down to the file name (they tell an attacker how the
    server is laid out and help nobody fix their input)."""
    message = error.split(TRACEBACK_START, 1)[0].strip()
    message = _SERVER_PATH.sub(r"…/\1", message)
    if len(message) > MAX_SUMMARY:
        message = message[: MAX_SUMMARY - 1] + "…"
    return message or "the job failed; an administrator can see why"
