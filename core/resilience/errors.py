"""A small exception taxonomy for calls to outside dependencies, independent of any SDK.

Every dependency (LLM, Stripe, S3, chat platform sends) maps its SDK's exceptions to
:class:`UpstreamError` through a :data:`Classifier`; the resilience primitives only ever reason
about ``UpstreamError``:

- ``transient`` — the dependency looks unhealthy (timeouts, 5xx, 408, connection errors). These
  count against the circuit breaker and are retried.
- ``status == 429`` — the dependency is healthy but asks us to slow down. Retried (honouring
  ``retry_after``), never counted by the breaker.
- everything else (400, 401, 403, 404, 422, ...) — our request is wrong; retrying cannot help and
  the dependency is fine. Neither retried nor counted.

The openai SDK mapping lives in ``core/llm``; this module knows no SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

from core.errors import RateLimitedError, ServiceUnavailable

__all__ = [
    "CircuitOpen",
    "Classifier",
    "Overloaded",
    "RateLimited",
    "ResilienceError",
    "UpstreamError",
    "UpstreamTimeout",
    "chain_classifiers",
    "classify_default",
    "parse_retry_after",
    "retry_after_from_headers",
]


class ResilienceError(Exception):
    """Base class of the errors raised by calls guarded by core/resilience."""


class UpstreamError(ResilienceError):
    """A call to an outside dependency failed.

    ``status`` is the HTTP status when there was a response (``None`` for timeouts and
    connection errors), ``retry_after`` the wait in seconds the dependency asked for, if any.
    ``transient`` defaults from the status: no status, 408 and 5xx are transient.
    """

    def __init__(
        self,
        status: int | None = None,
        retry_after: float | None = None,
        transient: bool | None = None,
        message: str | None = None,
    ) -> None:
        if transient is None:
            transient = status is None or status == 408 or status >= 500
        if message is None:
            message = f"upstream error (status {status})" if status else "upstream unavailable"
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.transient = transient
        self.message = message

    @property
    def throttled(self) -> bool:
        """The dependency answered 429 Too Many Requests."""
        return self.status == 429

    @property
    def retryable(self) -> bool:
        """Worth another attempt: transient failures and 429."""
        return self.transient or self.status == 429

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, retry_after={self.retry_after!r}, "
            f"transient={self.transient!r}, message={self.message!r})"
        )


class UpstreamTimeout(UpstreamError):
    """The dependency did not answer in time (always transient)."""

    def __init__(self, message: str = "upstream timed out") -> None:
        super().__init__(status=None, retry_after=None, transient=True, message=message)


class CircuitOpen(ServiceUnavailable):
    """The circuit breaker for ``name`` is open: failing fast for about ``retry_in`` seconds."""

    def __init__(self, name: str, retry_in: float) -> None:
        super().__init__(f"{name} is temporarily unavailable")
        self.name = name
        self.retry_in = max(0.0, retry_in)


class RateLimited(RateLimitedError):
    """A local rate limit denied the call; try again in ``retry_after`` seconds.

    A subclass of :class:`core.errors.RateLimitedError`, so the command layer turns it into a
    friendly answer without knowing about resilience.
    """

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        retry_after = max(0.0, retry_after)
        if message is None:
            message = f"Too many requests. Try again in {max(1, round(retry_after))} s."
        super().__init__(message, retry_after)


class Overloaded(RateLimited):
    """Too many calls are already running (a concurrency cap is full)."""

    def __init__(self, retry_after: float = 1.0) -> None:
        super().__init__(retry_after, "Busy right now. Try again in a moment.")


Classifier = Callable[[BaseException], UpstreamError | None]
"""Maps an exception to an :class:`UpstreamError`, or ``None`` when it is not an upstream
failure (a bug, a cancellation): such exceptions are never retried, never counted by a
breaker and never turned into a fallback."""


def classify_default(exc: BaseException) -> UpstreamError | None:
    """Knows only the standard library: ``UpstreamError`` itself, timeouts, connection errors."""
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError since 3.11
        return UpstreamTimeout(str(exc) or "upstream timed out")
    if isinstance(exc, ConnectionError):
        return UpstreamError(status=None, transient=True, message=str(exc) or "connection error")
    return None


def chain_classifiers(*classifiers: Classifier) -> Classifier:
    """A classifier asking each one in turn; the first non-``None`` answer wins."""

    def classify(exc: BaseException) -> UpstreamError | None:
        for c in classifiers:
            found = c(exc)
            if found is not None:
                return found
        return None

    return classify


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header value in seconds: delta-seconds or an HTTP-date (needs ``now``,
    a timezone-aware datetime from the clock). ``None`` when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN check
    if now is None:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def retry_after_from_headers(
    headers: Mapping[str, str], now: datetime | None = None
) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (OpenAI-style) or ``Retry-After`` headers.

    ``headers`` should be case-insensitive (httpx, aiohttp and multidict headers are); plain
    dicts are looked up in both spellings.
    """
    ms = headers.get("retry-after-ms") or headers.get("Retry-After-Ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    return parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"), now)
