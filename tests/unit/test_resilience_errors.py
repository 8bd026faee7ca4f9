"""The SDK-independent error taxonomy and its helpers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import RateLimitedError, ServiceUnavailable
from core.resilience import (
    CircuitOpen,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
    chain_classifiers,
    classify_default,
    parse_retry_after,
    retry_after_from_headers,
)


@pytest.mark.parametrize(
    ("status", "transient", "retryable"),
    [
        (None, True, True),
        (408, True, True),
        (500, True, True),
        (503, True, True),
        (429, False, True),
        (400, False, False),
        (401, False, False),
        (404, False, False),
        (422, False, False),
    ],
)
def test_status_decides_transient_and_retryable(
    status: int | None, transient: bool, retryable: bool
) -> None:
    err = UpstreamError(status)
    assert (err.transient, err.retryable) == (transient, retryable)
    assert err.throttled is (status == 429)


def test_explicit_transient_wins() -> None:
    assert not UpstreamError(503, transient=False).transient
    assert UpstreamError(409, transient=True).retryable


def test_default_classifier() -> None:
    err = UpstreamError(502)
    assert classify_default(err) is err
    timeout = classify_default(TimeoutError())
    assert isinstance(timeout, UpstreamTimeout) and timeout.transient
    conn = classify_default(ConnectionRefusedError("refused"))
    assert conn is not None and conn.transient and conn.status is None
    assert classify_default(ValueError("bug")) is None


def test_chain_classifiers_first_answer_wins() -> None:
    def teapot(exc: BaseException) -> UpstreamError | None:
        return UpstreamError(418) if isinstance(exc, LookupError) else None

    classify = chain_classifiers(teapot, classify_default)
    found = classify(KeyError("x"))
    assert found is not None and found.status == 418
    assert isinstance(classify(TimeoutError()), UpstreamTimeout)
    assert classify(ValueError()) is None


def test_friendly_error_bases() -> None:
    assert isinstance(CircuitOpen("llm", 3), ServiceUnavailable)
    limited = RateLimited(2.4)
    assert isinstance(limited, RateLimitedError)
    assert limited.retry_after == 2.4 and "2 s" in limited.message


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT") is None  # no clock, no date
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("nan") is None


def test_retry_after_from_headers_prefers_milliseconds() -> None:
    assert retry_after_from_headers({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_from_headers({"Retry-After": "9"}) == 9.0
    assert retry_after_from_headers({"retry-after-ms": "junk", "retry-after": "2"}) == 2.0
    assert retry_after_from_headers({}) is None
