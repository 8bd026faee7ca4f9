"""``tune_gc``: the start-up heap frozen, young collections less often, garbage still collected.

Run in a child interpreter: freezing the test process's own heap would keep every later test's
garbage from being examined.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import gc, json, weakref
from bot.lifecycle import GC_YOUNG_THRESHOLD, tune_gc

class Node:
    pass

a, b = Node(), Node()
a.other, b.other = b, a  # a cycle made at start-up, already garbage
probe = weakref.ref(a)
del a, b
before = gc.get_threshold()
tune_gc()
start_up_cycle_collected = probe() is None

c, d = Node(), Node()
c.other, d.other = d, c  # a cycle made while serving
later = weakref.ref(c)
del c, d
gc.collect()
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "threshold": gc.get_threshold(),
    "before": before,
    "young": GC_YOUNG_THRESHOLD,
    "start_up_cycle_collected": start_up_cycle_collected,
    "later_cycle_collected": later() is None,
}))
"""


def test_tune_gc_freezes_start_up_and_still_collects_later_garbage() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["frozen"] > 10_000  # modules, classes, schemas: out of the collector's walk
    assert got["threshold"] == [got["young"], *got["before"][1:]]
    assert got["start_up_cycle_collected"]  # collected before freezing, not frozen alive
    assert got["later_cycle_collected"]
