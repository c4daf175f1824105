"""What other domains do when money moves, registered explicitly (no import by name at run time).

Payments does not know invoices: the invoices domain registers its handlers here when it is imported
(`parking.invoices.service`), and payments calls every registered handler inside the transaction that
confirmed the payment or the refund, so the invoice commits or rolls back with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

# (db, payment_id, at_exit) — at_exit: confirmed inside the exit decision, on the barrier's critical path.
PaymentConfirmed = Callable[[AsyncSession, uuid.UUID, bool], Awaitable[None]]
RefundSucceeded = Callable[[AsyncSession, uuid.UUID], Awaitable[None]]

_on_confirmed: dict[str, PaymentConfirmed] = {}
_on_refund: dict[str, RefundSucceeded] = {}


def on_payment_confirmed(name: str) -> Callable[[PaymentConfirmed], PaymentConfirmed]:
    """Register ``fn`` under ``name`` (registering the same name again replaces it: imports are idempotent)."""

    def deco(fn: PaymentConfirmed) -> PaymentConfirmed:
        _on_confirmed[name] = fn
        return fn

    return deco


def on_refund_succeeded(name: str) -> Callable[[RefundSucceeded], RefundSucceeded]:
    def deco(fn: RefundSucceeded) -> RefundSucceeded:
        _on_refund[name] = fn
        return fn

    return deco


def registered() -> dict[str, list[str]]:
    return {"payment_confirmed": sorted(_on_confirmed), "refund_succeeded": sorted(_on_refund)}


async def payment_confirmed(db: AsyncSession, payment_id: uuid.UUID, *, at_exit: bool = False) -> None:
    for fn in _on_confirmed.values():
        await fn(db, payment_id, at_exit)


async def refund_succeeded(db: AsyncSession, refund_id: uuid.UUID) -> None:
    for fn in _on_refund.values():
        await fn(db, refund_id)
