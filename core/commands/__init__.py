"""Command modules. ``build_registry`` declares every command once, for every adapter."""

from __future__ import annotations

from core.commands.registry import Registry


def build_registry() -> Registry:
    from core.commands import (
        basics,
        billing,
        captions,
        data,
        fans,
        goal,
        ideas,
        imports,
        link,
        pricing,
        profile,
        reminders,
        stats,
        team,
        usage,
        vault,
    )

    reg = Registry()
    modules = (
        basics, profile, ideas, reminders, captions, fans, stats, goal, imports, pricing, vault,
        link, team, usage, billing, data,
    )  # fmt: skip
    for module in modules:
        module.register(reg)
    return reg
