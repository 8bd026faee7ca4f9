"""JSON log lines (bot/logging.py): one JSON object per line, whatever the fields hold."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from bot import logging as bot_logging


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    old = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    bot_logging.configure("INFO", "json", stream=out)
    try:
        yield out
    finally:
        structlog.configure(**old)
        root.handlers[:] = handlers
        root.setLevel(level)


def test_every_line_is_one_json_object_even_for_awkward_values(json_log: io.StringIO) -> None:
    log = structlog.get_logger("test")
    log.info("plain", count=3, ratio=0.5, ok=True, nothing=None)
    log.info("odd keys", by_account={7: "a", 8: "b"})
    log.info("huge", value=2**70)
    log.info("objects", tags={"x"}, raw=b"\x00", when=object())
    log.debug("filtered out")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["plain", "odd keys", "huge", "objects"]
    assert lines[0] | {"timestamp": None} == {
        "event": "plain",
        "count": 3,
        "ratio": 0.5,
        "ok": True,
        "nothing": None,
        "level": "info",
        "timestamp": None,
    }
    assert lines[1]["by_account"] == {"7": "a", "8": "b"}
    assert lines[2]["value"] == 2**70
    assert lines[3]["tags"] == "{'x'}"
    assert all(line["level"] == "info" and line["timestamp"].endswith("Z") for line in lines)
