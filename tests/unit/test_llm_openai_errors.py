"""The openai SDK's exceptions mapped onto the resilience taxonomy."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx2 as httpx
import openai

from core.llm.openai_errors import (
    InvalidOutput,
    classify_openai,
    make_openai_classifier,
    operator_problem,
)
from core.resilience import CircuitOpen, UpstreamError, UpstreamTimeout

REQUEST = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")


def status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    response = httpx.Response(status, headers=headers or {}, request=REQUEST)
    cls = {
        401: openai.AuthenticationError,
        403: openai.PermissionDeniedError,
        404: openai.NotFoundError,
        429: openai.RateLimitError,
    }.get(status, openai.InternalServerError if status >= 500 else openai.BadRequestError)
    return cls("Incorrect API key provided: sk-abc***xyz", response=response, body=None)


def test_timeouts_and_connection_errors_are_transient() -> None:
    timeout = classify_openai(openai.APITimeoutError(request=REQUEST))
    assert isinstance(timeout, UpstreamTimeout) and timeout.transient and timeout.retryable
    conn = classify_openai(openai.APIConnectionError(request=REQUEST))
    assert isinstance(conn, UpstreamError) and not isinstance(conn, UpstreamTimeout)
    assert conn.status is None and conn.transient


def test_status_errors_keep_status_and_retry_after() -> None:
    server = classify_openai(status_error(503))
    assert server is not None and server.status == 503 and server.transient
    throttled = classify_openai(status_error(429, {"Retry-After": "7"}))
    assert throttled is not None and throttled.throttled and not throttled.transient
    assert throttled.retryable and throttled.retry_after == 7.0
    ms = classify_openai(status_error(429, {"retry-after-ms": "250", "Retry-After": "9"}))
    assert ms is not None and ms.retry_after == 0.25
    for status in (400, 401, 403, 404, 422):
        up = classify_openai(status_error(status))
        assert up is not None and up.status == status
        assert not up.transient and not up.retryable


def test_api_messages_never_end_up_in_the_error() -> None:
    up = classify_openai(status_error(401))
    assert up is not None and "sk-" not in up.message and "sk-" not in repr(up)


def test_http_date_retry_after_uses_the_clock() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    classify = make_openai_classifier(lambda: now)
    up = classify(status_error(429, {"Retry-After": "Tue, 24 Nov 2026 12:00:30 GMT"}))
    assert up is not None and up.retry_after == 30.0


def test_invalid_output_and_other_api_errors_are_final() -> None:
    invalid = classify_openai(InvalidOutput(["not JSON"]))
    assert invalid is not None and not invalid.retryable and invalid.status is None
    other = classify_openai(openai.APIError("weird body", REQUEST, body=None))
    assert other is not None and not other.retryable
    assert classify_openai(KeyError("bug")) is None  # bugs are not upstream failures
    assert isinstance(classify_openai(ConnectionResetError()), UpstreamError)


def test_operator_problems() -> None:
    assert operator_problem(UpstreamError(401)) == "auth"
    assert operator_problem(UpstreamError(403)) == "auth"
    assert operator_problem(UpstreamError(404)) == "model"
    assert operator_problem(UpstreamError(500)) is None
    assert operator_problem(UpstreamError(429)) is None
    assert operator_problem(UpstreamTimeout()) is None
    assert operator_problem(CircuitOpen("llm", 3)) is None
    assert operator_problem(None) is None
