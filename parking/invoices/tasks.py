"""Outbox handler ``invoice.transmit``: sign the TDiep and send it to the provider, tracking the status.

Delivery is at least once (the outbox retries with backoff on any exception); it is exactly once in
effect because the envelope keeps the MTDiep and MCCQT fixed at issue, which the provider de-duplicates.
Statuses: issued -> sent (each attempt, in its own committed transaction so the history survives a
failed attempt) -> accepted | rejected (with the provider's reason). Without the operator's certificate an
invoice is never stranded: it stays `issued` (event `waiting`), the operator gets one alert, and the message
is deferred (not failed, never dead) until the certificate is installed; `requeue_stranded` revives any
transmission message that died anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import String, cast, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parking.invoices import certs, signing
from parking.invoices import xml as X
from parking.invoices.provider import ProviderAnswer, ProviderClient, TransientProviderError
from parking.invoices.service import TOPIC_ISSUE, TOPIC_TRANSMIT, on_payment_confirmed
from parking.invoices.settings import get_invoice_settings
from parking.kit import outbox
from parking.kit.alerts import raise_alert, resolve_alert
from parking.kit.db import transaction
from parking.models import Invoice, InvoiceEvent, InvoiceEventStatus, InvoiceStatus, Operator, OutboxMessage

log = structlog.get_logger("parking.invoices")

# OutboxContext.extras keys a test or the app may set to replace the defaults.
EXTRA_PROVIDER = "invoice_provider"  # object with `async submit(bytes) -> ProviderAnswer`
EXTRA_CREDENTIALS = "invoice_credentials"  # Callable[[Operator], signing.Credentials]
ALERT_NO_CERTIFICATE = "invoice.signing_certificate_missing"


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
    if inv.status in (InvoiceStatus.ACCEPTED, InvoiceStatus.REJECTED):
        return  # a final answer was already recorded; a redelivery changes nothing
    envelope = inv.signed_envelope
    op = await db.get(Operator, inv.operator_id)
    assert op is not None
    if envelope is None:
        try:
            creds = _credentials(ctx)(op)
        except certs.CertificateMissing as e:
            await _wait_for_certificate(ctx, inv, op, str(e))
            raise outbox.Deferred(get_invoice_settings().cert_wait_retry_s, str(e)) from e
        # The seller signs the invoice (HDon/DSCKS/NBan), then the transmission envelope (TDiep/CKSNNT).
        hdon = signing.sign_hdon(X.from_bytes(inv.xml.encode("utf-8")), creds)
        tdiep = X.build_tdiep(hdon, mngui=inv.mtdiep[:-32], mst=op.tax_code, mtdiep=inv.mtdiep)
        signed = signing.sign_tdiep(tdiep, creds)
        X.validate(signed)
        envelope = X.to_bytes(signed).decode("utf-8")
    attempt = inv.attempts + 1
    await _record(
        ctx,
        invoice_id,
        {"status": InvoiceStatus.SENT, "attempts": attempt, "signed_envelope": envelope},
        InvoiceEvent(invoice_id=invoice_id, status=InvoiceEventStatus.SENT, detail={"attempt": attempt}),
    )
    try:
        answer: ProviderAnswer = await _provider(ctx).submit(envelope.encode("utf-8"))
    except TransientProviderError as e:
        await _record(
            ctx,
            invoice_id,
            {},
            InvoiceEvent(
                invoice_id=invoice_id, status=InvoiceEventStatus.SENT, detail={"attempt": attempt, "error": str(e)}
            ),
        )
        log.warning("invoice.transmit_retry", mccqt=inv.mccqt, attempt=attempt, error=str(e))
        raise  # the outbox retries with backoff; the same MTDiep/MCCQT makes the retry safe
    status = InvoiceStatus.ACCEPTED if answer.accepted else InvoiceStatus.REJECTED
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
    await resolve_alert(db, ALERT_NO_CERTIFICATE, op.code)  # it could sign: the certificate is there


async def _wait_for_certificate(ctx: outbox.OutboxContext, inv: Invoice, op: Operator, reason: str) -> None:
    """The invoice waits for the operator's certificate: one alert per operator, one event per invoice.

    Written in its own transaction: the handler's own work is rolled back when it defers.
    """
    async with transaction(ctx.sessionmaker) as db:
        await raise_alert(
            db,
            ALERT_NO_CERTIFICATE,
            op.code,
            f"Chưa có chứng thư số để ký hóa đơn của {op.name} ({op.code}); hóa đơn đang chờ và sẽ được gửi "
            "ngay khi cài chứng thư. / No signing certificate installed for this operator: invoices wait and "
            "are sent as soon as it is installed.",
            {"operator_id": str(op.id), "cert_dir": str(get_invoice_settings().cert_dir)},
        )
        waiting = (
            await db.execute(
                select(InvoiceEvent.id)
                .where(InvoiceEvent.invoice_id == inv.id, InvoiceEvent.status == InvoiceEventStatus.WAITING)
                .limit(1)
            )
        ).first()
        if waiting is None:
            db.add(InvoiceEvent(invoice_id=inv.id, status=InvoiceEventStatus.WAITING, detail={"reason": reason}))
    log.warning("invoice.waiting_for_certificate", mccqt=inv.mccqt, operator=op.code)


async def requeue_stranded(db: AsyncSession) -> int:
    """Scheduler job body: an invoice not yet accepted or rejected whose transmission message died (an older
    version, or a bug) is put back in the queue, so no invoice stays stranded. Returns how many."""
    res = await db.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.topic == TOPIC_TRANSMIT,
            OutboxMessage.dead.is_(True),
            OutboxMessage.processed_at.is_(None),
            OutboxMessage.key.in_(
                select(literal(f"{TOPIC_TRANSMIT}:") + cast(Invoice.id, String)).where(
                    Invoice.status.in_((InvoiceStatus.ISSUED, InvoiceStatus.SENT))
                )
            ),
        )
        .values(dead=False, attempts=0, available_at=func.now())
    )
    n = int(res.rowcount)  # type: ignore[attr-defined]
    if n:
        log.warning("invoice.requeued_stranded", count=n)
    return n


async def requeue_stranded_job(sessionmaker: Any) -> int:
    """Scheduler job (every few minutes): see `requeue_stranded`."""
    async with transaction(sessionmaker) as db:
        return await requeue_stranded(db)


@outbox.handler(TOPIC_ISSUE)
async def issue_later(db: AsyncSession, payload: dict[str, Any], ctx: outbox.OutboxContext) -> None:
    """Retry issuing an invoice that could not be issued inside the payment's transaction."""
    await on_payment_confirmed(db, uuid.UUID(payload["payment_id"]), defer_on_error=False)
