"""``GET /health/live`` and ``GET /health/ready``.

Live: the process answers. Ready: each dependency is checked (with a timeout, concurrently) and
reported in JSON::

    {"status": "ok" | "degraded" | "unavailable",
     "checks": {"database": {"ok": true, "ms": 1.2}, "redis": {...}, "blobs": {...},
                "llm": {"ok": true, "breaker": "closed"}}}

``llm`` is ``{"ok": true, "engine": "offline"}`` when no model is configured.

The answer is 503 when a *critical* check fails: the database always, Redis when configured
(dialogs, limits and caches live there). The blob store and the LLM breaker are reported but
only degrade the service (uploads fail; answers come from the offline engine).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Probe = Callable[[], Awaitable[bool]]


@dataclass
class Check:
    name: str
    probe: Probe
    critical: bool = True


@dataclass
class Health:
    """The readiness checks. ``breaker_state`` reports the LLM breaker (None: no LLM, the
    offline engine answers)."""

    checks: list[Check] = field(default_factory=list)
    breaker_state: Callable[[], str] | None = None
    timeout: float = 2.0

    def add(self, name: str, probe: Probe, critical: bool = True) -> None:
        self.checks.append(Check(name, probe, critical))

    async def _run(self, check: Check) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                ok = bool(await check.probe())
            error = None if ok else "not reachable"
        except TimeoutError:
            ok, error = False, f"no answer within {self.timeout:g} s"
        except Exception as exc:
            ok, error = False, type(exc).__name__
        out: dict[str, Any] = {
            "ok": ok,
            "critical": check.critical,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        }
        if error:
            out["error"] = error
        return out

    async def ready(self) -> tuple[int, dict[str, Any]]:
        results = await asyncio.gather(*(self._run(c) for c in self.checks))
        report = {c.name: r for c, r in zip(self.checks, results, strict=True)}
        status = "ok"
        if any(not r["ok"] for r in results):
            status = "degraded"
        if any(not r["ok"] and r["critical"] for r in results):
            status = "unavailable"
        if self.breaker_state is not None:
            state = self.breaker_state()
            report["llm"] = {"ok": state != "open", "critical": False, "breaker": state}
            if state == "open" and status == "ok":
                status = "degraded"
        else:  # no model configured: every answer comes from the offline engine, by design
            report["llm"] = {"ok": True, "critical": False, "engine": "offline"}
        return (503 if status == "unavailable" else 200), {"status": status, "checks": report}

    # ------------------------------------------------------------ aiohttp handlers

    async def live_handler(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready_handler(self, request: web.Request) -> web.Response:
        code, body = await self.ready()
        return web.json_response(body, status=code)


__all__ = ["Check", "Health"]
