"""Every setting and command is documented where a newcomer looks: settings in README's
configuration table and ``.env.example``, commands in README's commands table and in
``docs/COMMANDS.md``. One added without them fails here."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings
from core.commands import build_registry

ROOT = Path(__file__).resolve().parents[2]


def names() -> list[str]:
    return sorted(name.upper() for name in Settings.model_fields)


def test_every_setting_is_in_the_readme_table() -> None:
    table = "\n".join(
        line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `")
    )
    # Grouped names are written once with their variants: `STRIPE_PRICE_CREDITS_100/500/2000`.
    expanded = re.sub(
        r"`([A-Z0-9_]+?)(\d+)((?:/\d+)+)`",
        lambda m: " ".join(f"`{m[1]}{n}`" for n in [m[2], *m[3].strip("/").split("/")]),
        table,
    )
    assert [name for name in names() if f"`{name}`" not in expanded] == []


def test_every_setting_is_in_env_example() -> None:
    text = (ROOT / ".env.example").read_text()
    assert [name for name in names() if not re.search(rf"^#?\s*{name}=", text, re.M)] == []


def test_every_command_is_in_the_readme_table_and_the_reference() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Commands") : readme.index("## Configuration")]
    reference = (ROOT / "docs" / "COMMANDS.md").read_text()
    commands = [c.name for c in build_registry().all()]
    assert len(commands) > 20
    for text in (table, reference):
        assert [c for c in commands if not re.search(rf"`/{c}\b", text)] == []
