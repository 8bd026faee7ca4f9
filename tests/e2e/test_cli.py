"""The terminal adapter through the real ``huntaze`` command, in a subprocess, on the defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.services import free_port

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


def test_import_a_file_into_an_account_and_see_it_in_stats(tmp_path: Path) -> None:
    assert run(tmp_path, "chat", "--once", "/help", "--user", "mia").returncode == 0
    (tmp_path / "november.csv").write_text(
        "Date,Amount,Fan\n2026-11-20 12:00:00,60.00,@leo\n2026-11-21 12:00:00,oops,@zoe\n"
    )
    (tmp_path / "onlyfans.csv").write_text("Date,Amount,Fan\n2026-11-22 12:00:00,40.00,@ana\n")
    said = run(tmp_path, "import", "november.csv", "--account", "@mia", "--platform", "fansly")
    assert said.returncode == 0, said.stderr
    assert "1 new transactions added" in said.stdout
    assert "line 3: amount “oops” is not a number" in said.stdout
    assert "Platform: Fansly (as you said)." in said.stdout
    named = run(tmp_path, "import", "onlyfans.csv", "--account", "console:mia")
    assert "Platform: OnlyFans (from the file name)." in named.stdout
    stats = run(tmp_path, "chat", "--once", "/stats all", "--user", "mia")
    assert "By platform: Fansly $60.00 (60%) · OnlyFans $40.00 (40%)" in stats.stdout
    fans = run(tmp_path, "chat", "--once", "/fans", "--user", "mia")
    assert "@leo" in fans.stdout and "@ana" in fans.stdout  # fans who paid
    nobody = run(tmp_path, "import", "onlyfans.csv", "--account", "@nobody")
    assert nobody.returncode == 2 and "no account matches" in nobody.stderr


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
    script = (
        "/profile set niches=travel platforms=instagram content_types=photo\n/ideas 1\n2\n"
        "/quit\n/ideas 1\n"  # nothing after /quit is read
    )
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
    assert proc.stdout.count("[2] Save") == 1 and "I don't know" not in proc.stdout


def test_vault_sweep_removes_a_crash_leftover_and_keeps_fresh_files(tmp_path: Path) -> None:
    blobs = tmp_path / "data" / "blobs" / "acct" / "1" / "up"
    blobs.mkdir(parents=True)
    leftover, fresh = blobs / ("a1" * 16), blobs / ("f2" * 16)
    leftover.write_bytes(b"x" * 2048)
    two_days_ago = time.time() - 2 * 86400
    os.utime(leftover, (two_days_ago, two_days_ago))
    fresh.write_bytes(b"an upload in progress")
    dead_write = blobs / ".tmp-killed"  # a write whose process was killed
    dead_write.write_bytes(b"half")
    os.utime(dead_write, (two_days_ago, two_days_ago))

    dry = run(tmp_path, "vault", "sweep", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == (
        "1 orphaned (2 KB) among 1 vault blob older than 24 h (dry run: nothing deleted); "
        "1 newer ones not judged."
    )
    assert leftover.exists()

    swept = run(tmp_path, "vault", "sweep")
    assert swept.returncode == 0, swept.stderr
    assert "removed 1" in swept.stdout and "cleared 1 unfinished uploads" in swept.stdout
    assert not leftover.exists() and not dead_write.exists() and fresh.exists()

    # Import uploads: one abandoned long ago, one kept by a dead letter for a retry.
    pending = tmp_path / "data" / "blobs" / "jobs" / "pending" / "1"
    pending.mkdir(parents=True)
    abandoned, kept = pending / "a.csv", pending / "k.csv"
    for path in (abandoned, kept):
        path.write_text("date,amount\n")
        os.utime(path, (time.time() - 8 * 86400,) * 2)
    letter = {
        "id": "job-7",
        "name": "import_csv",
        "payload": {"account_id": 1, "blob_key": "jobs/pending/1/k.csv", "name": "big.csv"},
        "error": "ImportError: boom",
        "attempts": 3,
        "failed_at": "2026-12-01T00:00:00+00:00",
    }
    letters = tmp_path / "data" / "jobs" / "dead-letters.json"
    letters.parent.mkdir(parents=True, exist_ok=True)
    letters.write_text(json.dumps({"job-7": json.dumps(letter)}))
    swept = run(tmp_path, "vault", "sweep")
    assert swept.returncode == 0, swept.stderr
    assert "Import uploads abandoned over a week ago: removed 1." in swept.stdout
    assert not abandoned.exists() and kept.exists()
    dropped = run(tmp_path, "jobs", "drop", "job-7")
    assert dropped.returncode == 0, dropped.stderr
    assert dropped.stdout.strip() == "dropped job job-7 (import_csv) and the upload it kept"
    assert not kept.exists()
    assert "no dead-lettered jobs" in run(tmp_path, "jobs", "dead").stdout
    again = run(tmp_path, "jobs", "drop", "job-7")
    assert again.returncode == 1 and "no dead-lettered job 'job-7'" in again.stderr

    too_eager = run(tmp_path, "vault", "sweep", "--older-than", "0.1")
    assert too_eager.returncode == 2
    assert "between 1 and 8760 hours" in too_eager.stderr
    assert "Traceback" not in too_eager.stderr


def test_a_store_that_went_away_is_one_clear_line_not_a_traceback(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    out = run(
        tmp_path,
        "vault",
        "sweep",
        env={
            "S3_BUCKET": "vault",
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{closed}",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        },
    )
    assert out.returncode == 1
    assert "huntaze: The file store is not reachable right now" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
