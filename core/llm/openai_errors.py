"""The openai SDK's exceptions mapped onto the resilience taxonomy, and invalid model output.

:func:`classify_openai` is the :data:`core.resilience.Classifier` of the LLM dependency:

- ``APITimeoutError`` -> :class:`UpstreamTimeout` (transient: retried, counted by the breaker);
- ``APIConnectionError`` -> transient ``UpstreamError`` without a status;
- ``APIStatusError`` -> ``UpstreamError(status, retry_after)``: 5xx and 408 are transient, 429 is
  retried honouring ``retry-after-ms`` / ``Retry-After`` but never counted, other 4xx are neither
  retried nor counted;
- any other ``openai.APIError`` (a body that does not parse, ...) -> a non-transient error;
- :class:`InvalidOutput` (the model answered, but not with what we asked for, even after the one
  repair try) -> a non-transient error: no retry, no breaker count, the caller falls back.

Error messages from the API are kept out of logs by callers: OpenAI's 401 message quotes part of
the key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import openai

from core.resilience.errors import (
    UpstreamError,
    UpstreamTimeout,
    classify_default,
    retry_after_from_headers,
)

__all__ = [
    "AUTH_STATUSES",
    "MODEL_STATUSES",
    "InvalidOutput",
    "classify_openai",
    "make_openai_classifier",
    "operator_problem",
]

AUTH_STATUSES = frozenset({401, 403})
"""The endpoint rejects our credentials: nothing a retry or another request can fix."""
MODEL_STATUSES = frozenset({404})
"""The endpoint does not know the configured model (or the base URL is wrong)."""


class InvalidOutput(Exception):
    """The model's answer is not usable: not JSON, not the schema, or nothing passed the rules.

    ``problems`` are short descriptions (they go into the repair prompt and the log, never to a
    user); ``refused`` is True when the model declined to answer (no repair is tried).
    """

    def __init__(self, problems: Sequence[str], *, refused: bool = False) -> None:
        self.problems = [p for p in problems if p] or ["unusable answer"]
        self.refused = refused
        super().__init__("; ".join(self.problems))


def make_openai_classifier(
    now: Callable[[], datetime] | None = None,
) -> Callable[[BaseException], UpstreamError | None]:
    """A classifier for the openai SDK; ``now`` (the clock's) lets HTTP-date Retry-After work."""

    def classify(exc: BaseException) -> UpstreamError | None:
        if isinstance(exc, InvalidOutput):
            return UpstreamError(None, transient=False, message="invalid model output")
        if isinstance(exc, openai.APITimeoutError):  # before APIConnectionError: a subclass
            return UpstreamTimeout("the model endpoint timed out")
        if isinstance(exc, openai.APIConnectionError):
            return UpstreamError(None, transient=True, message="cannot reach the model endpoint")
        if isinstance(exc, openai.APIStatusError):
            headers = exc.response.headers
            return UpstreamError(
                exc.status_code,
                retry_after=retry_after_from_headers(headers, now() if now else None),
                message=f"model endpoint answered {exc.status_code}",
            )
        if isinstance(exc, openai.APIError):
            return UpstreamError(None, transient=False, message="unusable answer from the endpoint")
        return classify_default(exc)

    return classify


classify_openai = make_openai_classifier()


def operator_problem(error: BaseException | None) -> str | None:
    """``"auth"`` for 401/403, ``"model"`` for 404, else None: problems only the operator fixes."""
    if not isinstance(error, UpstreamError) or error.status is None:
        return None
    if error.status in AUTH_STATUSES:
        return "auth"
    if error.status in MODEL_STATUSES:
        return "model"
    return None
