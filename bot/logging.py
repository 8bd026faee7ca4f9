"""structlog set-up: JSON in production, readable in a terminal; request ids via contextvars."""

from __future__ import annotations

import json
import logging
import sys

import orjson
import structlog


def _dumps(obj: object, **_: object) -> str:
    """orjson (structlog's recommended serializer: a log line in a few microseconds); what it
    cannot encode natively is logged as its ``str()``. It refuses non-string keys and integers
    past 64 bits outright: those lines go through ``json``, so a log call never fails."""
    try:
        return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(obj, default=str)


def configure(level: str = "INFO", fmt: str = "auto", stream: object = None) -> None:
    out = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not getattr(out, "isatty", lambda: False)())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if use_json
        else structlog.dev.ConsoleRenderer()
    )
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer]
        if use_json
        else [*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        level=max(numeric, logging.WARNING), stream=out, format="%(name)s %(levelname)s %(message)s"
    )
