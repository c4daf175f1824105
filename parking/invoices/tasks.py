"""Outbox handler ``invoice.transmit``: sign the TDiep and send it to the provider, tracking the status.

Delivery is at least once (the outbox retries with backoff on any exception); it is exactly once in
effect because the envelope keeps the MTDiep and MCCQT fixed at issue, which the provider de-duplicates.
Statuses: issued -> sent (each attempt, in its own committed transaction so the history survives a
failed attempt) -> accepted | rejected (with the provider's reason).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from parking.invoices import certs, signing
from parking.invoices import xml as X
from parking.invoices.provider import ProviderAnswer, ProviderClient, TransientProviderError
from parking.invoices.service import TOPIC_ISSUE, TOPIC_TRANSMIT, on_payment_confirmed
from parking.invoices.settings import get_invoice_settings
from parking.kit import outbox
from parking.kit.db import transaction
from parking.models import Invoice, InvoiceEvent, Operator

log = structlog.get_logger("parking.invoices")

# OutboxContext.extras keys a test or the app may set to replace the defaults.
EXTRA_PROVIDER = "invoice_provider"  # object with `async submit(bytes) -> ProviderAnswer`
EXTRA_CREDENTIALS = "invoice_credentials"  # Callable[[Operator], signing.Credentials]


def _credentials(ctx: outbox.OutboxContext) -> Callable[[Operator], signing.Credentials]:
    custom = ctx.extras.get(EXTRA_CREDENTIALS)
    if custom is not None:
        return custom
    cert_dir = get_invoice_settings().cert_dir
    return lambda op: certs.load(cert_dir, op.code)


def _provider(ctx: outbox.OutboxContext) -> Any:
    p = ctx.extras.get(EXTRA_PROVIDER)
    if p is not None:
        return p
    s = get_invoice_settings()
    return ProviderClient(s.provider_url, s.provider_timeout_s)


async def _record(
    ctx: outbox.OutboxContext, invoice_id: uuid.UUID, values: dict[str, Any], event: InvoiceEvent
) -> None:
    """Write a status change in its own transaction, so it stays even when this attempt then fails."""
    async with transaction(ctx.sessionmaker) as db:
        await db.execute(update(Invoice).where(Invoice.id == invoice_id).values(updated_at=datetime.now(UTC), **values))
        db.add(event)


@outbox.handler(TOPIC_TRANSMIT)
async def transmit(db: AsyncSession, payload: dict[str, Any], ctx: outbox.OutboxContext) -> None:
    invoice_id = uuid.UUID(payload["invoice_id"])
    inv = await db.get(Invoice, invoice_id)
    if inv is None:
        raise LookupError(f"invoice {invoice_id} not found")
    if inv.status in ("accepted", "rejected"):
        return  # a final answer was already recorded; a redelivery changes nothing
    envelope = inv.signed_envelope
    if envelope is None:
        op = await db.get(Operator, inv.operator_id)
        assert op is not None
        hdon = X.from_bytes(inv.xml.encode("utf-8"))
        tdiep = X.build_tdiep(hdon, mngui=inv.mtdiep[:-32], mst=op.tax_code, mtdiep=inv.mtdiep)
        signed = signing.sign_tdiep(tdiep, _credentials(ctx)(op))
        X.validate(signed)
        envelope = X.to_bytes(signed).decode("utf-8")
    attempt = inv.attempts + 1
    await _record(
        ctx,
        invoice_id,
        {"status": "sent", "attempts": attempt, "signed_envelope": envelope},
        InvoiceEvent(invoice_id=invoice_id, status="sent", detail={"attempt": attempt}),
    )
    try:
        answer: ProviderAnswer = await _provider(ctx).submit(envelope.encode("utf-8"))
    except TransientProviderError as e:
        await _record(
            ctx,
            invoice_id,
            {},
            InvoiceEvent(invoice_id=invoice_id, status="sent", detail={"attempt": attempt, "error": str(e)}),
        )
        log.warning("invoice.transmit_retry", mccqt=inv.mccqt, attempt=attempt, error=str(e))
        raise  # the outbox retries with backoff; the same MTDiep/MCCQT makes the retry safe
    status = "accepted" if answer.accepted else "rejected"
    detail: dict[str, Any] = {"attempt": attempt, "duplicate": answer.duplicate}
    if not answer.accepted:
        detail.update(code=answer.code, reason=answer.reason)
        log.error("invoice.rejected", mccqt=inv.mccqt, code=answer.code, reason=answer.reason)
    await db.execute(
        update(Invoice)
        .where(Invoice.id == invoice_id)
        .values(
            status=status,
            status_reason=None if answer.accepted else f"{answer.code}: {answer.reason}",
            updated_at=datetime.now(UTC),
        )
    )
    db.add(InvoiceEvent(invoice_id=invoice_id, status=status, detail=detail))


@outbox.handler(TOPIC_ISSUE)
async def issue_later(db: AsyncSession, payload: dict[str, Any], ctx: outbox.OutboxContext) -> None:
    """Retry issuing an invoice that could not be issued inside the payment's transaction."""
    await on_payment_confirmed(db, uuid.UUID(payload["payment_id"]), defer_on_error=False)
