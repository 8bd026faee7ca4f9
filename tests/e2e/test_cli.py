"""The terminal adapter through the real ``huntaze`` command, in a subprocess, on the defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HUNTAZE = [sys.executable, "-m", "bot"]


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "S3_"))}
    return subprocess.run(
        [*HUNTAZE, *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_chat_once_json_on_embedded_default(tmp_path: Path) -> None:
    setup = run(
        tmp_path,
        "chat",
        "--once",
        "/profile set niches=cosplay platforms=tiktok content_types=short_video "
        "equipment=phone,ring_light locations=bedroom",
        "--user",
        "mia",
    )
    assert setup.returncode == 0, setup.stderr
    assert "Cosplay" in setup.stdout
    out = run(tmp_path, "chat", "--once", "/ideas 3", "--user", "mia", "--json")
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    ideas = reply["result"]
    assert len(ideas) == 3
    required = {
        "title",
        "description",
        "content_type",
        "platform",
        "equipment",
        "location",
        "difficulty",
        "time_to_create",
        "best_time_to_post",
        "tags",
    }
    for idea in ideas:
        assert required <= idea.keys()
        assert idea["content_type"] == "short_video" and idea["location"] == "bedroom"
    assert (tmp_path / "data" / "huntaze.db").exists()  # data persists between runs
    again = json.loads(
        run(tmp_path, "chat", "--once", "/ideas 3", "--user", "mia", "--json").stdout
    )
    assert not {i["title"] for i in ideas} & {i["title"] for i in again["result"]}


def test_other_user_has_no_profile(tmp_path: Path) -> None:
    run(
        tmp_path,
        "chat",
        "--once",
        "/profile set niches=art platforms=x content_types=photo",
        "--user",
        "a",
    )
    out = run(tmp_path, "chat", "--once", "/profile show", "--user", "b")
    assert "no profile yet" in out.stdout


def test_unwritable_database_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = run(
        tmp_path,
        "chat",
        "--once",
        "/help",
        env={"DATABASE_URL": f"sqlite+aiosqlite:///{blocker}/sub/huntaze.db"},
    )
    assert out.returncode != 0
    assert "cannot start" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


@pytest.mark.parametrize("line", ["/nonsense", "/ideas 500", '/personalize "oops for x'])
def test_bad_input_never_shows_a_traceback(tmp_path: Path, line: str) -> None:
    out = run(tmp_path, "chat", "--once", line)
    assert out.returncode == 0
    assert out.stdout.strip() and "Traceback" not in out.stdout + out.stderr


def test_interactive_run_reads_typed_lines_and_numbered_buttons(tmp_path: Path) -> None:
    script = "/profile set niches=travel platforms=instagram content_types=photo\n/ideas 1\n2\n"
    proc = subprocess.run(
        [*HUNTAZE, "chat"],
        cwd=tmp_path,
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[2] Save" in proc.stdout
    assert "Saved “" in proc.stdout  # typing 2 pressed the Save button
