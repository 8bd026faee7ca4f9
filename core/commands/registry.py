"""The one command registry.

Each command is declared once: name, one-line help, usage, typed arguments (a pydantic model) and
an async handler ``(ctx, args) -> Reply``. Text platforms parse ``/name rest`` through
``Command.parse_text``; Discord builds slash options from ``Command.args`` and validates the option
dict through ``Command.validate``. Button payloads are routed by prefix through ``Registry.action``.
"""

from __future__ import annotations

import difflib
import shlex
import types
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from core.errors import UsageError
from core.models import Access

if TYPE_CHECKING:
    from core.chat import Reply
    from core.context import Context

Handler = Callable[["Context", Any], Awaitable["Reply"]]
ActionHandler = Callable[["Context", list[str]], Awaitable["Reply"]]
TextParser = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class Choice:
    """One autocompletion: the field's ``value``, shown as ``label`` (the value when empty)."""

    value: str
    label: str = ""

    @property
    def shown(self) -> str:
        return self.label or self.value


def choices(values: Iterable[str]) -> list[Choice]:
    return [Choice(v) for v in values]


Completer = Callable[["Context", str], Awaitable[list[Choice]]]
MAX_COMPLETIONS = 25  # choices offered at once (Discord shows at most 25)


def split_args(raw: str) -> list[str]:
    """Shell-like split that accepts typographic quotes; an unclosed quote is a UsageError."""
    normalised = raw.replace("\u201c", '"').replace("\u201d", '"').replace("\u2018", "'")
    normalised = normalised.replace("\u2019", "'")
    try:
        lexer = shlex.shlex(normalised, posix=True)
        lexer.whitespace_split = True
        lexer.escape = ""  # backslashes stay literal
        lexer.commenters = ""  # "#summer" is a hashtag, not a comment
        lexer.quotes = '"'
        return list(lexer)
    except ValueError as exc:
        raise UsageError("There is an unclosed quote in that command.") from exc


def _accepts(annotation: Any, token: str) -> bool:
    """Could ``token`` be a value of a field typed ``annotation``? (for positional matching)"""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return token.lower() in {str(a).lower() for a in typing.get_args(annotation)}
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(a, token) for a in typing.get_args(annotation) if a is not type(None))
    if annotation is int:
        return token.lstrip("-").isdigit()
    return annotation is str


def positional_parser(model: type[BaseModel]) -> TextParser:
    """Default parser: ``key=value`` tokens by name; other tokens fill the first field whose type
    accepts them, in declaration order (``/ideas creative 3`` equals ``/ideas 3 creative``)."""

    def parse(raw: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        fields = model.model_fields
        for token in split_args(raw):
            key, sep, value = token.partition("=")
            if sep and key in fields:
                values[key] = value
                continue
            for name, info in fields.items():
                if name not in values and _accepts(info.annotation, token):
                    values[name] = token.lower() if _is_choice(info.annotation) else token
                    break
            else:
                raise UsageError(f"I don't understand “{token}”.")
        return values

    return parse


def _is_choice(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Literal:
        return True
    return any(typing.get_origin(a) is typing.Literal for a in typing.get_args(annotation))


_NUMBER_ERRORS = {
    "less_than_equal",
    "less_than",
    "greater_than_equal",
    "greater_than",
    "int_parsing",
    "decimal_parsing",
    "float_parsing",
    "finite_number",
}


def _bounds_phrase(metadata: list[Any]) -> str | None:
    """ "a number from 1 to 10", "a number above 0, at most 9,999,999,999"... or None."""
    bounds = {type(m).__name__: m for m in metadata}
    ge, gt, le = bounds.get("Ge"), bounds.get("Gt"), bounds.get("Le")
    low = f"from {ge.ge:,}" if ge is not None else f"above {gt.gt:,}" if gt is not None else ""
    if ge is not None and le is not None:
        return f"a number from {ge.ge:,} to {le.le:,}"
    if low and le is not None:
        return f"a number {low}, at most {le.le:,}"
    if low:
        return f"a number {low}"
    if le is not None:
        return f"a number, at most {le.le:,}"
    return None


def _literal_values(annotation: Any) -> list[str]:
    """The allowed values of ``Literal[...]``, also inside ``Literal[...] | None``."""
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    return [v for a in typing.get_args(annotation) for v in _literal_values(a)]


def friendly_validation(exc: ValidationError, model: type[BaseModel]) -> str:
    """One short sentence for the first problem, e.g. "count must be a number from 1 to 10"."""
    err = exc.errors()[0]
    name = str(err["loc"][0]) if err["loc"] else "value"
    info = model.model_fields.get(name)
    if info is not None:
        phrase = _bounds_phrase(info.metadata)
        if phrase is not None and err["type"] in _NUMBER_ERRORS:
            return f"{name} must be {phrase}."
        if err["type"] == "literal_error":
            return f"{name} must be one of: {', '.join(_literal_values(info.annotation))}."
        if err["type"] == "string_too_long":
            return f"{name} must be at most {err['ctx']['max_length']} characters."
        if err["type"] == "missing":
            return f"{name} is missing."
    return f"{name}: {err['msg']}."


@dataclass
class Command:
    name: str
    help: str
    usage: str
    handler: Handler
    args: type[BaseModel] | None = None
    parser: TextParser | None = None
    examples: list[str] = field(default_factory=list)
    menu: bool = True  # listed in platform command menus
    needs_profile: bool = False
    complete: dict[str, Completer] = field(default_factory=dict)  # field -> autocompletion
    # who may run it on an account (``/team``): anyone working on it, its owner and managers
    # (earnings, bulk exports), or its owner alone (billing, keys, chats)
    access: Access = "member"

    def parse_text(self, raw: str) -> Any:
        if self.args is None:
            return None
        parse = self.parser or positional_parser(self.args)
        return self.validate(parse(raw))

    def validate(self, values: dict[str, Any]) -> Any:
        if self.args is None:
            return None
        try:
            return self.args.model_validate(values)
        except ValidationError as exc:
            raise UsageError(friendly_validation(exc, self.args)) from exc


class Registry:
    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}
        self._aliases: dict[str, str] = {}
        self._actions: dict[str, ActionHandler] = {}

    def command(
        self,
        name: str,
        help: str,
        usage: str = "",
        args: type[BaseModel] | None = None,
        parser: TextParser | None = None,
        examples: list[str] | None = None,
        menu: bool = True,
        needs_profile: bool = False,
        aliases: tuple[str, ...] = (),
        complete: dict[str, Completer] | None = None,
        access: Access = "member",
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if name in self._commands:
                raise ValueError(f"command /{name} declared twice")
            self._commands[name] = Command(
                name=name,
                help=help,
                usage=usage or f"/{name}",
                handler=handler,
                args=args,
                parser=parser,
                examples=examples or [],
                menu=menu,
                needs_profile=needs_profile,
                complete=complete or {},
                access=access,
            )
            for alias in aliases:
                self._aliases[alias] = name
            return handler

        return register

    def action(self, prefix: str) -> Callable[[ActionHandler], ActionHandler]:
        def register(handler: ActionHandler) -> ActionHandler:
            if prefix in self._actions:
                raise ValueError(f"action prefix {prefix!r} declared twice")
            self._actions[prefix] = handler
            return handler

        return register

    def get(self, name: str) -> Command | None:
        name = name.lower()
        return self._commands.get(self._aliases.get(name, name))

    def action_handler(self, prefix: str) -> ActionHandler | None:
        return self._actions.get(prefix)

    def all(self) -> list[Command]:
        return list(self._commands.values())

    def suggest(self, name: str) -> list[str]:
        names = list(self._commands) + list(self._aliases)
        found = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.5)
        if not found:
            found = [n for n in names if n.startswith(name.lower()[:2])][:3]
        return [self._aliases.get(n, n) for n in dict.fromkeys(found)]
