"""Command modules. ``build_registry`` declares every command once, for every adapter."""

from __future__ import annotations

from core.commands.registry import Registry


def build_registry() -> Registry:
    from core.commands import basics, captions, fans, ideas, link, profile, vault

    reg = Registry()
    for module in (basics, profile, ideas, captions, fans, vault, link):
        module.register(reg)
    return reg
