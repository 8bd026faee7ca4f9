"""One-time codes and button tokens: ``/link`` and ``/team invite`` codes a person types (or a
Telegram start link carries), and the tokens a button carries where 64 bytes of callback data
cannot hold what it stands for (``/deleteaccount``'s confirmation, ``/week``'s reminders).

Eight characters of a 32-letter alphabet without look-alikes (40 bits), read back in any case.
The database keeps each under its SHA-256 with what it stands for and when it expires
(``core.ports.CodeRepository``): a code outlives a restart, works on every instance, and one
taken (``redeem``) is gone in the same statement that reads it, so two people sending the same
invite at once cannot both join.
"""

from __future__ import annotations

import hashlib
import secrets

from core.ports import OneTimeCode, Store

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
LENGTH = 8


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


async def issue(store: Store, purpose: str, account_id: int, value: str, ttl: float) -> str:
    """A new code of ``account_id``'s standing for ``value`` for ``ttl`` seconds."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    await store.codes.add(purpose, _hash(code), account_id, value, ttl)
    return code


async def redeem(store: Store, purpose: str, code: str) -> OneTimeCode | None:
    """What a code stands for, once (it is gone after); None: unknown, used or expired."""
    return await store.codes.take(purpose, _hash(code))


async def look_up(store: Store, purpose: str, code: str) -> OneTimeCode | None:
    """What a code stands for, leaving it for another use until it expires."""
    return await store.codes.get(purpose, _hash(code))
