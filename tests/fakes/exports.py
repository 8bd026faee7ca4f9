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
