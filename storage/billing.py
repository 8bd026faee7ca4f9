"""SQL repositories for billing (``core.ports.BillingRepository``), API keys and quota counters.

- ``SqlBillingRepository.unit()`` is ONE transaction for a batch of Stripe events: their ids
  are claimed first (``INSERT ... ON CONFLICT DO NOTHING`` on the primary key), so a concurrent
  delivery of the same event waits for the first one and then sees the conflict; billing-state,
  order and account rows are read ``FOR UPDATE`` on PostgreSQL (SQLite serialises writers
  anyway, and the claim is the transaction's first statement, so it is a writer from the start).
- ``SqlQuotaRepository.consume`` takes allowance and credits in one transaction, locking the
  counter row (created on first use) and the account row.
- ``SqlApiKeyRepository`` stores a key's SHA-256 only.

Like ``storage.repositories``, a database that went away raises ``ServiceUnavailable``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import NotFound
from core.ports import ApiKey, BillingState, Clock, EventClaim, Order
from storage.tables import (
    AccountRow,
    ApiKeyRow,
    BillingAccountRow,
    CheckoutOrderRow,
    QuotaUsageRow,
    StripeEventRow,
)

if TYPE_CHECKING:
    from storage.repositories import _Database


def _state(row: BillingAccountRow) -> BillingState:
    return BillingState(
        account_id=row.account_id,
        customer_id=row.customer_id,
        subscription_id=row.subscription_id,
        plan=row.plan,
        status=row.status,
        current_period_end=row.current_period_end,
        cancel_at_period_end=row.cancel_at_period_end,
        state_at=row.state_at,
    )


def _order(row: CheckoutOrderRow) -> Order:
    return Order(
        session_id=row.session_id,
        account_id=row.account_id,
        product=row.product,
        kind=row.kind,
        credits=row.credits,
        status=row.status,
        payment_intent=row.payment_intent,
        amount_total=row.amount_total,
        currency=row.currency,
        credits_granted=row.credits_granted,
        credits_revoked=row.credits_revoked,
        created_at=row.created_at,
    )


def _order_values(order: Order) -> dict[str, Any]:
    return {
        "account_id": order.account_id,
        "product": order.product,
        "kind": order.kind,
        "credits": order.credits,
        "status": order.status,
        "payment_intent": order.payment_intent,
        "amount_total": order.amount_total,
        "currency": order.currency[:8],
        "credits_granted": order.credits_granted,
        "credits_revoked": order.credits_revoked,
    }


# ---------------------------------------------------------------- billing

_EVENTS = StripeEventRow.__table__
_STATES = BillingAccountRow.__table__
_ORDERS = CheckoutOrderRow.__table__
_ACCOUNTS = AccountRow.__table__
_STATE_VALUES = (
    "customer_id",
    "subscription_id",
    "plan",
    "status",
    "current_period_end",
    "cancel_at_period_end",
    "state_at",
    "updated_at",
)
_ORDER_VALUES = (*_order_values(Order("", 0, "", "")), "updated_at")


class _Statements:
    """The unit's statements, built once per dialect (webhooks run them thousands of times;
    building and compiling them per call cost more than the round trips)."""

    def __init__(self, dialect: str) -> None:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        b = bindparam
        self.record = (
            insert(_EVENTS)
            .values(
                id=b("event_id"),
                type=b("event_type"),
                created=b("event_created"),
                outcome=b("event_outcome"),
                account_id=b("acct"),
                received_at=b("now"),
            )
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(_EVENTS.c.id)
        )
        self.finish = (
            update(_EVENTS)
            .where(_EVENTS.c.id == b("event_id"))
            .values(outcome=b("event_outcome"), account_id=b("acct"))
        )
        self.exists = select(_ACCOUNTS.c.id).where(_ACCOUNTS.c.id == b("acct"))
        self.by_customer = select(_STATES.c.account_id).where(
            _STATES.c.customer_id == b("customer")
        )
        self.by_subscription = (
            select(_STATES)
            .where(_STATES.c.subscription_id == b("subscription"))
            .order_by(_STATES.c.account_id)
            .limit(1)
            .with_for_update()
        )
        self.state = select(_STATES).where(_STATES.c.account_id == b("acct")).with_for_update()
        upsert = insert(_STATES).values(account_id=b("acct"), **{k: b(k) for k in _STATE_VALUES})
        self.save_state = upsert.on_conflict_do_update(
            index_elements=["account_id"],
            set_={k: getattr(upsert.excluded, k) for k in _STATE_VALUES},
        )
        self.set_plan = update(_ACCOUNTS).where(_ACCOUNTS.c.id == b("acct")).values(plan=b("plan"))
        self.order = select(_ORDERS).where(_ORDERS.c.session_id == b("sid")).with_for_update()
        self.order_for_pi = (
            select(_ORDERS)
            .where(_ORDERS.c.payment_intent == b("pi"))
            .order_by(_ORDERS.c.created_at)
            .limit(1)
            .with_for_update()
        )
        order_upsert = insert(_ORDERS).values(
            session_id=b("sid"), created_at=b("created_at"), **{k: b(k) for k in _ORDER_VALUES}
        )
        self.save_order = order_upsert.on_conflict_do_update(
            index_elements=["session_id"],
            set_={k: getattr(order_upsert.excluded, k) for k in _ORDER_VALUES},
        )
        self.credits = (
            select(_ACCOUNTS.c.credits).where(_ACCOUNTS.c.id == b("acct")).with_for_update()
        )
        self.set_credits = (
            update(_ACCOUNTS).where(_ACCOUNTS.c.id == b("acct")).values(credits=b("credits"))
        )


_STATEMENTS: dict[str, _Statements] = {}


def _statements(dialect: str) -> _Statements:
    found = _STATEMENTS.get(dialect)
    if found is None:
        found = _STATEMENTS[dialect] = _Statements(dialect)
    return found


class SqlBillingUnit:
    """``core.ports.BillingUnit`` on one connection in one transaction (SQLAlchemy Core).

    Event ids are claimed first, in one multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING``
    for the whole batch (in id order, so two batches that share ids lock them in the same order
    and cannot deadlock): a concurrent delivery of the same event waits on the key and then sees
    the conflict. On SQLite the claim also makes the transaction a writer from its first
    statement (a reader that later writes can fail with SQLITE_BUSY when another writer
    committed meanwhile). The outcomes are written last, in one ``executemany``.
    """

    def __init__(self, conn: AsyncConnection, clock: Clock) -> None:
        self._conn = conn
        self._clock = clock
        self._sql = _statements(conn.dialect.name)

    async def _scalar(self, stmt: Any, **params: Any) -> Any:
        return (await self._conn.execute(stmt, params)).scalar_one_or_none()

    async def claim_events(self, claims: Sequence[EventClaim]) -> set[str]:
        if not claims:
            return set()
        now = self._clock.now()
        rows = [
            {
                "event_id": claim.event_id[:255],
                "event_type": claim.event_type[:128],
                "event_created": claim.created,
                "event_outcome": claim.outcome[:32],
                "acct": None,
                "now": now,
            }
            for claim in sorted(claims, key=lambda c: c.event_id)
        ]
        result = await self._conn.execute(self._sql.record, rows)
        new = {str(found) for found in result.scalars()}
        # Ids longer than the column were stored cut; answer in the caller's terms.
        return {c.event_id for c in claims if c.event_id[:255] in new}

    async def finish_events(self, outcomes: Sequence[tuple[str, str, int | None]]) -> None:
        if outcomes:
            await self._conn.execute(
                self._sql.finish,
                [
                    {"event_id": event_id[:255], "event_outcome": outcome[:32], "acct": acct}
                    for event_id, outcome, acct in outcomes
                ],
            )

    async def account_exists(self, account_id: int) -> bool:
        return await self._scalar(self._sql.exists, acct=account_id) is not None

    async def account_for_customer(self, customer_id: str) -> int | None:
        found = await self._scalar(self._sql.by_customer, customer=customer_id)
        return None if found is None else int(found)

    async def state_for_subscription(self, subscription_id: str) -> BillingState | None:
        row = (
            await self._conn.execute(self._sql.by_subscription, {"subscription": subscription_id})
        ).first()
        return None if row is None else _state(row)  # type: ignore[arg-type]

    async def state(self, account_id: int) -> BillingState | None:
        row = (await self._conn.execute(self._sql.state, {"acct": account_id})).first()
        return None if row is None else _state(row)  # type: ignore[arg-type]

    async def save_state(self, state: BillingState) -> None:
        await self._conn.execute(
            self._sql.save_state,
            {
                "acct": state.account_id,
                "customer_id": state.customer_id,
                "subscription_id": state.subscription_id,
                "plan": state.plan,
                "status": state.status,
                "current_period_end": state.current_period_end,
                "cancel_at_period_end": state.cancel_at_period_end,
                "state_at": state.state_at,
                "updated_at": self._clock.now(),
            },
        )

    async def set_plan(self, account_id: int, plan: str) -> None:
        await self._conn.execute(self._sql.set_plan, {"acct": account_id, "plan": plan})

    async def order(self, session_id: str) -> Order | None:
        row = (await self._conn.execute(self._sql.order, {"sid": session_id})).first()
        return None if row is None else _order(row)  # type: ignore[arg-type]

    async def order_for_payment_intent(self, payment_intent: str) -> Order | None:
        row = (await self._conn.execute(self._sql.order_for_pi, {"pi": payment_intent})).first()
        return None if row is None else _order(row)  # type: ignore[arg-type]

    async def save_order(self, order: Order) -> None:
        now = self._clock.now()
        await self._conn.execute(
            self._sql.save_order,
            {
                "sid": order.session_id,
                "created_at": order.created_at or now,
                "updated_at": now,
                **_order_values(order),
            },
        )

    async def add_credits(self, account_id: int, delta: int) -> tuple[int, int]:
        current = await self._scalar(self._sql.credits, acct=account_id)
        if current is None:
            raise NotFound("That account does not exist.")
        balance = max(0, int(current) + delta)
        if balance != current:
            await self._conn.execute(
                self._sql.set_credits, {"acct": account_id, "credits": balance}
            )
        return balance - int(current), balance


class SqlBillingRepository:
    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[SqlBillingUnit]:
        async with self._db.connection() as conn:
            yield SqlBillingUnit(conn, self._clock)

    async def record_events(self, claims: Sequence[EventClaim]) -> set[str]:
        # One statement: atomic on its own, so no BEGIN/COMMIT around it.
        async with self._db.connection(autocommit=True) as conn:
            return await SqlBillingUnit(conn, self._clock).claim_events(claims)

    async def state(self, account_id: int) -> BillingState | None:
        async with self._db.transaction() as session:
            row = await session.get(BillingAccountRow, account_id)
            return None if row is None else _state(row)

    async def add_order(self, order: Order) -> None:
        now = self._clock.now()
        async with self._db.transaction() as session:
            try:
                await session.execute(
                    self._db.insert(CheckoutOrderRow)
                    .values(
                        session_id=order.session_id,
                        created_at=order.created_at or now,
                        updated_at=now,
                        **_order_values(order),
                    )
                    .on_conflict_do_nothing(index_elements=["session_id"])
                )
            except IntegrityError as error:
                raise NotFound("That account does not exist.") from error

    async def orders(self, account_id: int, limit: int = 20) -> list[Order]:
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(CheckoutOrderRow)
                .where(CheckoutOrderRow.account_id == account_id)
                .order_by(CheckoutOrderRow.created_at.desc())
                .limit(max(limit, 0))
            )
            return [_order(row) for row in rows]

    async def event_outcome(self, event_id: str) -> str | None:
        """The outcome recorded for a Stripe event id (None: never seen). For tests and ops."""
        async with self._db.transaction() as session:
            return await session.scalar(
                select(StripeEventRow.outcome).where(StripeEventRow.id == event_id)
            )


# ---------------------------------------------------------------- API keys


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        prefix=row.prefix,
        name=row.name,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


class SqlApiKeyRepository:
    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add(self, account_id: int, prefix: str, key_hash: str, name: str = "") -> ApiKey:
        async with self._db.transaction() as session:
            try:
                row = (
                    await session.execute(
                        self._db.insert(ApiKeyRow)
                        .values(
                            account_id=account_id,
                            prefix=prefix[:32],
                            key_hash=key_hash,
                            name=name[:64],
                            created_at=self._clock.now(),
                        )
                        .returning(ApiKeyRow)
                    )
                ).scalar_one()
            except IntegrityError as error:
                raise NotFound("That account does not exist.") from error
            return _key(row)

    async def account_for(self, key_hash: str) -> int | None:
        async with self._db.transaction() as session:
            return await session.scalar(
                update(ApiKeyRow)
                .where(ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None))
                .values(last_used_at=self._clock.now())
                .returning(ApiKeyRow.account_id)
            )

    async def list(self, account_id: int) -> list[ApiKey]:
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(ApiKeyRow)
                .where(ApiKeyRow.account_id == account_id, ApiKeyRow.revoked_at.is_(None))
                .order_by(ApiKeyRow.id)
            )
            return [_key(row) for row in rows]

    async def revoke(self, account_id: int, key_id: int | None = None) -> int:
        stmt = update(ApiKeyRow).where(
            ApiKeyRow.account_id == account_id, ApiKeyRow.revoked_at.is_(None)
        )
        if key_id is not None:
            stmt = stmt.where(ApiKeyRow.id == key_id)
        async with self._db.transaction() as session:
            result = await session.execute(stmt.values(revoked_at=self._clock.now()))
            return int(result.rowcount)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- quota counters


class SqlQuotaRepository:
    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def consume(
        self,
        account_id: int,
        feature: str,
        period: str,
        amount: int,
        limit: int | None,
        use_credits: bool = False,
    ) -> tuple[int, int] | None:
        if amount <= 0:
            return 0, 0
        where = (
            QuotaUsageRow.account_id == account_id,
            QuotaUsageRow.feature == feature,
            QuotaUsageRow.period == period,
        )
        async with self._db.transaction() as session:
            try:
                await session.execute(
                    self._db.insert(QuotaUsageRow)
                    .values(account_id=account_id, feature=feature, period=period, used=0)
                    .on_conflict_do_nothing(index_elements=["account_id", "feature", "period"])
                )
            except IntegrityError as error:
                raise NotFound("That account does not exist.") from error
            used = int(
                await session.scalar(select(QuotaUsageRow.used).where(*where).with_for_update())
                or 0
            )
            left = amount if limit is None else max(0, limit - used)
            from_allowance = min(amount, left)
            from_credits = amount - from_allowance
            if from_credits:
                if not use_credits:
                    return None
                credits = await session.scalar(
                    select(AccountRow.credits).where(AccountRow.id == account_id).with_for_update()
                )
                if credits is None or credits < from_credits:
                    return None
                await session.execute(
                    update(AccountRow)
                    .where(AccountRow.id == account_id)
                    .values(credits=AccountRow.credits - from_credits)
                )
            if from_allowance:
                await session.execute(
                    update(QuotaUsageRow).where(*where).values(used=used + from_allowance)
                )
            return from_allowance, from_credits

    async def release(
        self, account_id: int, feature: str, period: str, from_allowance: int, from_credits: int
    ) -> None:
        async with self._db.transaction() as session:
            if from_allowance > 0:
                row = await session.scalar(
                    select(QuotaUsageRow)
                    .where(
                        QuotaUsageRow.account_id == account_id,
                        QuotaUsageRow.feature == feature,
                        QuotaUsageRow.period == period,
                    )
                    .with_for_update()
                )
                if row is not None:
                    row.used = max(0, row.used - from_allowance)
            if from_credits > 0:
                await session.execute(
                    update(AccountRow)
                    .where(AccountRow.id == account_id)
                    .values(credits=AccountRow.credits + from_credits)
                )

    async def used(self, account_id: int, feature: str, period: str) -> int:
        async with self._db.transaction() as session:
            value = await session.scalar(
                select(QuotaUsageRow.used).where(
                    QuotaUsageRow.account_id == account_id,
                    QuotaUsageRow.feature == feature,
                    QuotaUsageRow.period == period,
                )
            )
            return int(value or 0)


__all__ = [
    "SqlApiKeyRepository",
    "SqlBillingRepository",
    "SqlBillingUnit",
    "SqlQuotaRepository",
]
