"""Large, realistic earnings exports for tests and benchmarks (deterministic)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

CATEGORIES = ("Subscription", "Tip", "Post purchase", "Message", "Referral")


def write_export(path: Path, size: int) -> tuple[int, int]:
    """An earnings export of about ``size`` bytes, a payment every 67 seconds from 2024 on,
    20,000 fans: ``(rows, total cents)``."""
    rng = random.Random(20261124)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = cents = written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        header = "Date,Net,Currency,Type,Fan,Description\r\n"
        out.write(header)
        written += len(header)
        while written < size:
            at = start + timedelta(seconds=rows * 67)
            amount = rng.randint(100, 9999)
            fan = f"fan_{rng.randint(1, 20000)}"
            line = (
                f"{at:%Y-%m-%d %H:%M:%S},{amount // 100}.{amount % 100:02d},USD,"
                f'{CATEGORIES[rows % 5]},@{fan},"Payment #{rows} from {fan} — thank you!"\r\n'
            )
            out.write(line)
            written += len(line.encode())
            rows += 1
            cents += amount
    return rows, cents


def write_fan_export(path: Path, fans: int) -> int:
    """A platform's fan list of ``fans`` rows (name, level, lifetime spend, last seen, labels,
    notes), as ``Username,Display name,Level,...``; returns the row count."""
    rng = random.Random(20261207)
    levels = ("New", "Regular", "VIP", "Whale")
    labels = ("cosplay", "gym", "feet", "outdoors", "muted")
    last = datetime(2026, 11, 30, tzinfo=UTC)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("Username,Display name,Level,Lifetime spend,Last seen,Labels,Notes\r\n")
        for i in range(fans):
            seen = last - timedelta(days=rng.randint(0, 400))
            tags = ", ".join(rng.sample(labels, rng.randint(0, 2)))
            out.write(
                f"@fan_{i + 1},Fan {i + 1},{rng.choice(levels)},"
                f'"${rng.randint(0, 500000) / 100:,.2f}",{seen:%Y-%m-%d},"{tags}",'
                f"{'likes customs' if i % 7 == 0 else ''}\r\n"
            )
    return fans
