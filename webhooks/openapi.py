"""``GET /openapi.json``: an OpenAPI 3.1 description of every route the application has.

The document is built from the application's router when it is asked for, so a route added
anywhere shows up; :data:`OPERATIONS` holds the descriptions of the known ones. A route without
an entry is still listed (summary from its handler) - ``tests/e2e/test_http_app.py`` checks that
every route has a real description.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(ERROR, description)


def _file_form(**fields: dict[str, Any]) -> dict[str, Any]:
    """A multipart/form-data request body: the text ``fields``, then a ``file`` part."""
    properties = {**fields, "file": {"type": "string", "format": "binary"}}
    schema = {"type": "object", "properties": properties, "required": ["file"]}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


ASSET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "size": {"type": "integer"},
        "mime": {"type": "string"},
        "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "source": {"type": "string"},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
    },
    "required": ["id", "sha256", "size", "mime"],
}

IMPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "import": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "kind": {"type": ["string", "null"], "enum": ["earnings", "fans", "offers", None]},
                "rows": {"type": "integer"},
                "added": {"type": "integer"},
                "updated": {"type": "integer"},
                "unchanged": {"type": "integer"},
                "bad_count": {"type": "integer"},
                "bad": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"line": {"type": "integer"}, "reason": {"type": "string"}},
                    },
                },
                "platforms": {"type": "object", "additionalProperties": {"type": "integer"}},
                "error": {"type": ["string", "null"]},
            },
        },
        "text": {"type": "string"},
    },
    "required": ["import", "text"],
}

IMPORT_JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "job": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                "state": {
                    "type": "string",
                    "enum": ["queued", "running", "done", "rejected", "failed"],
                },
                "name": {"type": "string"},
                "size": {"type": "integer"},
                "platform": {"type": ["string", "null"]},
                "progress": {"type": "number", "minimum": 0, "maximum": 1},
                "attempt": {"type": "integer"},
                "created": {"type": "string", "format": "date-time"},
                "updated": {"type": "string", "format": "date-time"},
                "import": {
                    "oneOf": [IMPORT_SCHEMA["properties"]["import"], {"type": "null"}],
                    "description": "The import report, once done or rejected",
                },
                "text": {"type": "string", "description": "What the chat would say"},
                "error": {"type": "string", "description": "Why the last try failed"},
            },
            "required": ["id", "state", "name", "size", "progress"],
        }
    },
    "required": ["job"],
}

HEALTH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded", "unavailable"]},
        "checks": {"type": "object", "additionalProperties": {"type": "object"}},
    },
    "required": ["status"],
}

BEARER = [{"apiKey": []}]
ASSET_ID: dict[str, Any] = {
    "name": "asset_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}

OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/webhooks/stripe"): {
        "summary": "Stripe webhook deliveries",
        "description": (
            "Verified with the Stripe-Signature header (300 s tolerance; several secrets during "
            "rotation). Each event id is applied once; unknown event types are acknowledged."
        ),
        "parameters": [
            {"name": "Stripe-Signature", "in": "header", "required": True, "schema": {}}
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "properties": {"received": {"type": "boolean"}, "outcome": {"type": "string"}},
                },
                "Received (applied, a duplicate, or ignored)",
            ),
            "400": _error("Bad signature, stale timestamp or malformed event; nothing written"),
            "503": _error("Database unavailable; Stripe delivers again"),
        },
    },
    ("POST", "/webhooks/telegram"): {
        "summary": "Telegram Bot API webhook updates",
        "description": "Checked with X-Telegram-Bot-Api-Secret-Token; processed after the answer.",
        "parameters": [
            {
                "name": "X-Telegram-Bot-Api-Secret-Token",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": "A Telegram Update (core.telegram.org/bots/api#update)",
                        "properties": {"update_id": {"type": "integer"}},
                        "required": ["update_id"],
                    }
                }
            },
        },
        "responses": {
            "200": _json({"type": "object"}, "Accepted"),
            "400": _error("Not a Telegram update"),
            "401": _error("Wrong secret token"),
            "503": _error("Too many updates in progress; Telegram delivers again (Retry-After)"),
        },
    },
    ("POST", "/api/v1/uploads"): {
        "summary": "Upload a file into your vault",
        "description": (
            "multipart/form-data with a `file` part (optional `tags` or `caption` fields "
            "before it). Streamed into the blob store; the type is sniffed from the bytes; the "
            "same bytes twice are stored once."
        ),
        "security": BEARER,
        "requestBody": _file_form(tags={"type": "string"}, caption={"type": "string"}),
        "responses": {
            "201": _json(
                {
                    "type": "object",
                    "properties": {"asset": ASSET_SCHEMA, "created": {"const": True}},
                },
                "Stored",
            ),
            "200": _json(
                {
                    "type": "object",
                    "properties": {"asset": ASSET_SCHEMA, "created": {"const": False}},
                },
                "Already in the vault (same sha256)",
            ),
            "400": _error(
                "Not multipart or malformed, no file, empty file or an incomplete upload"
            ),
            "401": _error("Missing or invalid API key"),
            "413": _error("Over the size limit or the plan's vault room"),
            "415": _error("The bytes are not what the upload claims to be"),
            "503": _error("Blob store or database unavailable"),
        },
    },
    ("POST", "/api/v1/imports"): {
        "summary": "Import a CSV export (earnings, fans or PPV offers) into your account",
        "description": (
            "multipart/form-data with a `file` part (an optional `platform` field before it, "
            "e.g. `fansly`: where the earnings were made). Read as a file sent in chat is: "
            "columns found by name, bad rows reported with their line and kept out, the same "
            "rows twice imported once. The answer is the import report; `text` is what the "
            "chat would say. With `Prefer: respond-async` the file is kept and imported by a "
            "background job: 202 with the job at once (`Location` is its status)."
        ),
        "parameters": [
            {
                "name": "Prefer",
                "in": "header",
                "description": "`respond-async`: import in the background (RFC 7240)",
                "schema": {"type": "string"},
            }
        ],
        "security": BEARER,
        "requestBody": _file_form(platform={"type": "string"}),
        "responses": {
            "200": _json(IMPORT_SCHEMA, "Imported (bad rows, if any, are in the report)"),
            "202": _json(IMPORT_JOB_SCHEMA, "Queued (`Prefer: respond-async`)"),
            "400": _error("Not multipart or malformed, no file, or an incomplete upload"),
            "401": _error("Missing or invalid API key"),
            "413": _error("Over the import size limit"),
            "422": _json(IMPORT_SCHEMA, "The file could not be imported (`import.error` says why)"),
            "503": _error("Imports not available here, or the database is down"),
        },
    },
    ("GET", "/api/v1/imports/{job_id}"): {
        "summary": "A background import's status (kept 7 days)",
        "security": BEARER,
        "parameters": [
            {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "responses": {
            "200": _json(IMPORT_JOB_SCHEMA, "queued, running, done, rejected or failed"),
            "401": _error("Missing or invalid API key"),
            "404": _error("No such import for your account"),
        },
    },
    ("GET", "/api/v1/assets"): {
        "summary": "List your vault's files (newest first)",
        "security": BEARER,
        "parameters": [
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
            },
            {"name": "tag", "in": "query", "schema": {"type": "string"}},
            {
                "name": "cursor",
                "in": "query",
                "description": "The previous page's next_cursor: the page after it",
                "schema": {"type": "string"},
            },
        ],
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "properties": {
                        "assets": {"type": "array", "items": ASSET_SCHEMA},
                        "next_cursor": {
                            "type": ["string", "null"],
                            "description": "Set when the page is full: pass it as cursor",
                        },
                    },
                    "required": ["assets", "next_cursor"],
                },
                "The caller's assets only, newest first",
            ),
            "400": _error(
                "limit is not a whole number from 1 to 500, or a cursor this API did not give out"
            ),
            "401": _error("Missing or invalid API key"),
            "503": _error("Database unavailable"),
        },
    },
    ("GET", "/api/v1/assets/{asset_id}"): {
        "summary": "One of your vault's files",
        "security": BEARER,
        "parameters": [ASSET_ID],
        "responses": {
            "200": _json({"type": "object", "properties": {"asset": ASSET_SCHEMA}}, "The asset"),
            "401": _error("Missing or invalid API key"),
            "404": _error("No such asset in the caller's vault (other accounts' included)"),
        },
    },
    ("GET", "/api/v1/assets/{asset_id}/content"): {
        "summary": "Download one of your vault's files",
        "description": (
            "The stored bytes with the file's type and name (Content-Disposition: attachment). "
            "ETag is the file's sha256: send it as If-None-Match to skip a download you have."
        ),
        "security": BEARER,
        "parameters": [
            ASSET_ID,
            {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {
                "description": "The file",
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            },
            "304": {"description": "Not modified (If-None-Match matched the ETag)"},
            "401": _error("Missing or invalid API key"),
            "404": _error("No such asset in the caller's vault, or its bytes are missing"),
            "503": _error("Blob store or database unavailable"),
        },
    },
    ("DELETE", "/api/v1/assets/{asset_id}"): {
        "summary": "Delete one of your vault's files",
        "description": (
            "The file leaves the vault (and the plan's vault size) at once; its stored bytes are "
            "deleted right after. This cannot be undone."
        ),
        "security": BEARER,
        "parameters": [ASSET_ID],
        "responses": {
            "204": {"description": "Deleted"},
            "401": _error("Missing or invalid API key"),
            "404": _error("No such asset in the caller's vault (other accounts' included)"),
            "503": _error("Blob store or database unavailable"),
        },
    },
    ("GET", "/api/v1/export"): {
        "summary": "Download all your account's data",
        "description": (
            "What /export sends in chat: every row the service holds about the key's account, "
            "one CSV file per table in a ZIP (a README.txt inside says what is where; API key "
            "hashes left out; the vault's files themselves through the assets routes). For an "
            "account whose export is more than a chat lets the bot send."
        ),
        "security": BEARER,
        "responses": {
            "200": {
                "description": "The ZIP (Content-Disposition: attachment)",
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            },
            "401": _error("Missing or invalid API key"),
            "503": _error("Database unavailable"),
        },
    },
    ("GET", "/metrics"): {
        "summary": "Prometheus metrics",
        "responses": {
            "200": {
                "description": "Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    },
    ("GET", "/health/live"): {
        "summary": "Liveness: the process answers",
        "responses": {"200": _json(HEALTH_SCHEMA, "Alive")},
    },
    ("GET", "/health/ready"): {
        "summary": "Readiness: database, Redis, blob store, LLM breaker",
        "responses": {
            "200": _json(HEALTH_SCHEMA, "Ready (possibly degraded)"),
            "503": _json(HEALTH_SCHEMA, "A critical dependency (database, Redis) is down"),
        },
    },
    ("GET", "/openapi.json"): {
        "summary": "This document",
        "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
    },
    ("GET", "/billing/return"): {
        "summary": "Where Stripe Checkout sends the buyer back",
        "parameters": [
            {
                "name": "status",
                "in": "query",
                "schema": {"type": "string", "enum": ["success", "cancel"]},
            }
        ],
        "responses": {
            "200": {
                "description": "A short page pointing back to the chat",
                "content": {"text/html": {"schema": {"type": "string"}}},
            }
        },
    },
}

_PARAM = re.compile(r"\{([^}:]+)(:[^}]*)?\}")


def routes_of(app: web.Application) -> list[tuple[str, str, Any]]:
    """(method, path pattern, handler) for every route (HEAD twins of GETs left out)."""
    out = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method in ("HEAD", "*"):
            continue
        out.append((route.method, _PARAM.sub(r"{\1}", resource.canonical), route.handler))
    return out


def build_openapi(app: web.Application, title: str = "Huntaze", version: str = "0.1.0") -> dict:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, handler in routes_of(app):
        operation = OPERATIONS.get((method, path))
        if operation is None:
            name = getattr(handler, "__name__", "handler")
            operation = {
                "summary": name.replace("_", " "),
                "responses": {"200": {"description": "OK"}},
            }
        op = dict(operation)
        op.setdefault("operationId", f"{method.lower()}_{path.strip('/').replace('/', '_')}")
        op["responses"] = {**op.get("responses", {}), "500": _error("Unexpected error")}
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{title} HTTP API",
            "version": version,
            "description": (
                "Webhooks (Stripe, Telegram), the uploads API, metrics and health. Every answer "
                "carries an X-Request-Id header; errors are JSON."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "request_id": {"type": "string"},
                    },
                    "required": ["error"],
                }
            },
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A key from /apikey in chat",
                }
            },
        },
    }


async def openapi_view(request: web.Request) -> web.Response:
    """The aiohttp handler for ``GET /openapi.json``."""
    return web.json_response(build_openapi(request.app))


__all__ = ["OPERATIONS", "build_openapi", "openapi_view", "routes_of"]
