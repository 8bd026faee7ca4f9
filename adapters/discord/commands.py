"""Slash commands generated from the core registry, and interaction options read back.

Every menu command of ``assistant.registry`` becomes one global chat-input command; its
pydantic ``args`` model (flat fields) becomes the options:

=====================  ==============================================================
field type             Discord option
=====================  ==============================================================
``str``                string (min_length / max_length from the field)
``int``                integer (min_value / max_value from ``ge`` / ``le`` / ``gt`` / ``lt``)
``bool``               boolean
``Decimal``, ``float``  number (bounds as for int)
``date``               string "YYYY-MM-DD" (core validates it)
``Literal[...]``       choices (string, or integer when every value is an int)
=====================  ==============================================================

``Optional[...]`` or a default makes an option optional; ``Field(description=...)`` is its
description. A field listed in ``command.complete`` gets autocomplete. The adapter adds one
command of its own, ``/upload`` (files -> ``Incoming.attachments``), unless core declares one.

Nothing here imports discord: the payloads are plain JSON, hashed to decide whether the
command set changed since the last sync.
"""

from __future__ import annotations

import hashlib
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic.fields import FieldInfo

from core.commands.registry import Choice, Command, Registry

JSON = dict[str, Any]

STRING, INTEGER, BOOLEAN, NUMBER, ATTACHMENT = 3, 4, 5, 10, 11
SUBCOMMAND_TYPES = (1, 2)
CONTEXT_GUILD, CONTEXT_BOT_DM = 0, 1
GUILD_INSTALL = 0

MAX_DESCRIPTION = 100
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_STRING = 6000
MAX_SAFE_INT = 2**53
_NAME = re.compile(r"^[-_'\w]{1,32}$")

UPLOAD_COMMAND = "upload"
UPLOAD_FILE_OPTIONS = ("file", "file2", "file3")
UPLOAD_CAPTION_OPTION = "caption"


def _describe(text: str | None, fallback: str) -> str:
    text = " ".join((text or "").split()) or fallback
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def _unwrap_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _bounds(info: FieldInfo, integer: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for meta in info.metadata:
        ge, gt = getattr(meta, "ge", None), getattr(meta, "gt", None)
        le, lt = getattr(meta, "le", None), getattr(meta, "lt", None)
        if ge is not None:
            out["min_value"] = ge
        if gt is not None:
            out["min_value"] = gt + 1 if integer else gt
        if le is not None:
            out["max_value"] = le
        if lt is not None:
            out["max_value"] = lt - 1 if integer else lt
    for key, value in list(out.items()):
        value = int(value) if integer else float(value)
        out[key] = max(-MAX_SAFE_INT, min(MAX_SAFE_INT, value))
    return out


def _lengths(info: FieldInfo) -> dict[str, int]:
    out: dict[str, int] = {}
    for meta in info.metadata:
        low, high = getattr(meta, "min_length", None), getattr(meta, "max_length", None)
        if low is not None:
            out["min_length"] = max(0, min(MAX_STRING, int(low)))
        if high is not None:
            out["max_length"] = max(1, min(MAX_STRING, int(high)))
    return out


def field_option(name: str, info: FieldInfo, autocomplete: bool = False) -> JSON:
    """The Discord option for one flat pydantic field."""
    base = _unwrap_optional(info.annotation)
    label = name.replace("_", " ").capitalize()
    option: JSON = {"type": STRING, "name": name, "description": ""}
    description = info.description
    if typing.get_origin(base) is typing.Literal:
        values = list(typing.get_args(base))
        integer = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        option["type"] = INTEGER if integer else STRING
        if len(values) <= MAX_CHOICES:
            option["choices"] = [
                {"name": str(v)[:100], "value": v if integer else str(v)} for v in values
            ]
        autocomplete = autocomplete and "choices" not in option
    elif base is bool:
        option["type"] = BOOLEAN
        autocomplete = False
    elif base is int:
        option["type"] = INTEGER
        option.update(_bounds(info, integer=True))
    elif base in (Decimal, float):
        option["type"] = NUMBER
        option.update(_bounds(info, integer=False))
    elif base is date:
        if not description or "YYYY" not in description:
            description = f"{description or label} (YYYY-MM-DD)"
        option.update(min_length=10, max_length=10)
    else:
        option.update(_lengths(info))
    option["description"] = _describe(description, label)
    if info.is_required():
        option["required"] = True
    if autocomplete:
        option["autocomplete"] = True
    return option


def command_options(command: Command) -> list[JSON]:
    if command.args is None:
        return []
    options = [
        field_option(name, info, autocomplete=name in command.complete)
        for name, info in command.args.model_fields.items()
        if _NAME.match(name) and name == name.lower()
    ]
    # Discord wants required options first; keep declaration order otherwise.
    options.sort(key=lambda o: not o.get("required", False))
    return options[:MAX_OPTIONS]


FIRST_FILE = "A photo, video or document for your vault; CSV and Excel exports are imported"


def _upload_command() -> JSON:
    files = [
        {
            "type": ATTACHMENT,
            "name": name,
            "description": FIRST_FILE if index == 0 else "Another file",
            **({"required": True} if index == 0 else {}),
        }
        for index, name in enumerate(UPLOAD_FILE_OPTIONS)
    ]
    caption: JSON = {
        "type": STRING,
        "name": UPLOAD_CAPTION_OPTION,
        "description": "A caption or #tags for the files",
        "max_length": 1000,
    }
    return {
        "type": 1,
        "name": UPLOAD_COMMAND,
        "description": "Store files in your vault (CSV and Excel exports are imported)",
        "contexts": [CONTEXT_GUILD, CONTEXT_BOT_DM],
        "integration_types": [GUILD_INSTALL],
        "options": [files[0], caption, *files[1:]],
    }


def has_adapter_upload(registry: Registry) -> bool:
    """True when ``/upload`` is the adapter's own (core declares none)."""
    return registry.get(UPLOAD_COMMAND) is None


def build_commands(registry: Registry) -> list[JSON]:
    """The global command payloads for a bulk overwrite, in registry order."""
    payloads: list[JSON] = []
    for command in registry.all():
        if (
            not command.menu
            or not _NAME.match(command.name)
            or command.name != command.name.lower()
        ):
            continue
        payload: JSON = {
            "type": 1,
            "name": command.name,
            "description": _describe(command.help, command.name),
            "contexts": [CONTEXT_GUILD, CONTEXT_BOT_DM],
            "integration_types": [GUILD_INSTALL],
        }
        options = command_options(command)
        if options:
            payload["options"] = options
        payloads.append(payload)
    if has_adapter_upload(registry):
        payloads.append(_upload_command())
    return payloads


def commands_hash(payloads: list[JSON]) -> str:
    canonical = json.dumps(payloads, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


_COMMAND_KEYS = ("type", "name", "description", "contexts", "integration_types")
_OPTION_KEYS = (
    "type",
    "name",
    "description",
    "required",
    "autocomplete",
    "min_value",
    "max_value",
    "min_length",
    "max_length",
    "channel_types",
)


def _set(value: Any) -> bool:
    return value is not None and value is not False and value != []


def _normal_option(option: JSON) -> JSON:
    out = {k: option[k] for k in _OPTION_KEYS if _set(option.get(k))}
    if option.get("choices"):
        out["choices"] = [
            {"name": c.get("name"), "value": c.get("value")} for c in option["choices"]
        ]
    if option.get("options"):
        out["options"] = [_normal_option(o) for o in option["options"]]
    return out


def _normal_command(command: JSON) -> JSON:
    out = {k: command[k] for k in _COMMAND_KEYS if _set(command.get(k))}
    out.setdefault("type", 1)
    out["options"] = [_normal_option(o) for o in command.get("options") or []]
    return out


def matches_remote(payloads: list[JSON], remote: list[JSON]) -> bool:
    """True when the chat commands Discord already has are ``payloads`` (no sync needed).

    Only the fields this module sets are compared, with Discord's defaults (an absent
    ``required`` is false...) made explicit, so a change in either direction is seen."""
    mine = sorted((_normal_command(p) for p in payloads), key=lambda c: str(c["name"]))
    theirs = sorted(
        (_normal_command(c) for c in remote if c.get("type", 1) == 1),
        key=lambda c: str(c["name"]),
    )
    return mine == theirs


# ---------------------------------------------------------------- interactions


@dataclass(frozen=True)
class Invocation:
    """A chat-input command as the user sent it: option values and attachment payloads."""

    name: str
    options: dict[str, Any]
    attachments: dict[str, JSON]  # option name -> resolved attachment payload


def read_invocation(data: Mapping[str, Any]) -> Invocation:
    """Option values of an APPLICATION_COMMAND interaction's ``data``."""
    resolved = (data.get("resolved") or {}).get("attachments") or {}
    options: dict[str, Any] = {}
    attachments: dict[str, JSON] = {}
    for option in data.get("options") or []:
        if option.get("type") in SUBCOMMAND_TYPES:
            continue
        name, value = option.get("name"), option.get("value")
        if option.get("type") == ATTACHMENT:
            payload = resolved.get(str(value))
            if payload is not None:
                attachments[str(name)] = payload
            continue
        options[str(name)] = value
    return Invocation(name=str(data.get("name", "")), options=options, attachments=attachments)


def focused_option(data: Mapping[str, Any]) -> tuple[str, str, int] | None:
    """(name, current text, option type) of the option being typed in an autocomplete."""
    for option in data.get("options") or []:
        if option.get("type") in SUBCOMMAND_TYPES:
            found = focused_option(option)
            if found:
                return found
        elif option.get("focused"):
            return str(option["name"]), str(option.get("value") or ""), int(option.get("type", 3))
    return None


def autocomplete_choices(values: list[Choice], option_type: int) -> list[JSON]:
    """Core completions -> at most 25 ``{"name", "value"}`` of the option's type."""
    out: list[JSON] = []
    for choice in values:
        value, name = choice.value, choice.shown[:100]
        if option_type == INTEGER:
            if not value.lstrip("-").isdigit():
                continue
            out.append({"name": name, "value": int(value)})
        elif option_type == NUMBER:
            try:
                out.append({"name": name, "value": float(value)})
            except ValueError:
                continue
        else:
            out.append({"name": name, "value": value[:100]})
        if len(out) == MAX_CHOICES:
            break
    return out
