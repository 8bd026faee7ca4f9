"""Errors core knows how to turn into a friendly answer (or, at start-up, a clear exit)."""

from __future__ import annotations

from datetime import datetime


class HuntazeError(Exception):
    """Base class. ``message`` is safe to show to a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(HuntazeError):
    """The user typed something the command cannot take; ``usage`` shows the right form."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


class NotFound(HuntazeError):
    """Something the user named does not exist in their account."""


class QuotaExceeded(HuntazeError):
    """A plan quota or the credit balance does not allow this; ``refills_at``: when a daily
    allowance comes back (UTC midnight), if it is one."""

    def __init__(self, message: str, refills_at: datetime | None = None) -> None:
        super().__init__(message)
        self.refills_at = refills_at


class RateLimitedError(HuntazeError):
    """Too many requests from this account; ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(HuntazeError):
    """A dependency (database, blob store) is down; nothing was changed."""


class StartupError(HuntazeError):
    """Configuration or environment prevents start-up; shown to the operator, exit non-zero."""
