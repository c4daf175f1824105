"""Issue 13 finding 7 (e-invoices): an invoice issued before the operator's signing certificate exists waits,
raises one alert and goes out once the certificate is installed; the seller's signature is inside ``HDon``
(``DSCKS/NBan``); `invoices verify` reports invoices the tax authority has not accepted in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.invoices import certs, signing, tasks
from parking.invoices import service as invoice_service
from parking.invoices import xml as X
from parking.invoices.provider import ProviderClient
from parking.invoices.verify import verify_day
from parking.kit import outbox
from parking.kit.db import transaction
from parking.models import Alert, Invoice, InvoiceEvent, Operator, OutboxMessage
from tests.factories import LotHandle
from tests.factories.invoices import drain_invoices, outbox_ctx, paid

VN_TODAY = datetime.now(X.VN_TZ).date()


@pytest.fixture
async def sim(
    einvoice_sim: Any, sessionmaker: async_sessionmaker[AsyncSession], operator_creds: signing.Credentials
) -> Any:
    await drain_invoices(outbox_ctx(sessionmaker, operator_creds, einvoice_sim.url))
    einvoice_sim.reset()
    return einvoice_sim


async def _try_now(ctx: outbox.OutboxContext, key: str) -> OutboxMessage:
    async with transaction(ctx.sessionmaker) as db:
        await db.execute(update(OutboxMessage).where(OutboxMessage.key == key).values(available_at=datetime.now(UTC)))
    await outbox.process_key(ctx, key)
    async with ctx.sessionmaker() as db:
        return (await db.execute(select(OutboxMessage).where(OutboxMessage.key == key))).scalar_one()


async def test_an_invoice_issued_before_the_certificate_waits_alerts_once_and_goes_out(
    sessionmaker: async_sessionmaker[AsyncSession],
    lot: LotHandle,
    sim: Any,
    operator_creds: signing.Credentials,
    tmp_path: Path,
) -> None:
    cert_dir = tmp_path / "certs"  # the operator has not installed a certificate yet
    ctx = outbox.OutboxContext(
        sessionmaker,
        None,
        {
            tasks.EXTRA_CREDENTIALS: lambda op: certs.load(cert_dir, op.code),
            tasks.EXTRA_PROVIDER: ProviderClient(sim.url, 5.0),
        },
    )
    inv = await paid(sessionmaker, lot, 25_000)
    key = f"{invoice_service.TOPIC_TRANSMIT}:{inv.id}"
    for _ in range(outbox.MAX_ATTEMPTS + 3):  # more tries than would kill an ordinary failing message
        msg = await _try_now(ctx, key)
        assert msg.processed_at is None and not msg.dead
    async with sessionmaker() as db:
        fresh = await db.get(Invoice, inv.id)
        assert fresh is not None and fresh.status == "issued" and fresh.signed_envelope is None
        op = await db.get(Operator, lot.operator_id)
        assert op is not None
        alerts = list((await db.execute(select(Alert).where(Alert.subject == op.code))).scalars())
        waiting = list(
            (
                await db.execute(
                    select(InvoiceEvent).where(InvoiceEvent.invoice_id == inv.id, InvoiceEvent.status == "waiting")
                )
            ).scalars()
        )
    assert [(a.kind, a.resolved_at) for a in alerts] == [("invoice.signing_certificate_missing", None)]
    assert len(waiting) == 1
    # The operator installs the certificate: the very next try signs and transmits it.
    crt, key_path = certs.paths(cert_dir, op.code)
    cert_dir.mkdir(parents=True)
    crt.write_bytes(operator_creds.cert_pem)
    key_path.write_bytes(operator_creds.key_pem)
    msg = await _try_now(ctx, key)
    assert msg.processed_at is not None
    async with sessionmaker() as db:
        fresh = await db.get(Invoice, inv.id)
        assert fresh is not None and fresh.status == "accepted"
        alert = (await db.execute(select(Alert).where(Alert.subject == op.code))).scalar_one()
        assert alert.resolved_at is not None


async def test_a_dead_transmission_is_revived_by_the_repair_job(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle, sim: Any, operator_creds: signing.Credentials
) -> None:
    inv = await paid(sessionmaker, lot, 26_000)
    key = f"{invoice_service.TOPIC_TRANSMIT}:{inv.id}"
    async with transaction(sessionmaker) as db:  # what an older version left: a dead message
        await db.execute(update(OutboxMessage).where(OutboxMessage.key == key).values(dead=True, attempts=12))
    async with transaction(sessionmaker) as db:
        assert await tasks.requeue_stranded(db) >= 1
    ctx = outbox_ctx(sessionmaker, operator_creds, sim.url)
    msg = await _try_now(ctx, key)
    assert msg.processed_at is not None and not msg.dead
    async with sessionmaker() as db:
        fresh = await db.get(Invoice, inv.id)
        assert fresh is not None and fresh.status == "accepted"


async def test_the_sellers_signature_is_inside_hdon(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle, sim: Any, operator_creds: signing.Credentials
) -> None:
    inv = await paid(sessionmaker, lot, 27_000)
    ctx = outbox_ctx(sessionmaker, operator_creds, sim.url)
    await _try_now(ctx, f"{invoice_service.TOPIC_TRANSMIT}:{inv.id}")
    async with sessionmaker() as db:
        fresh = await db.get(Invoice, inv.id)
    assert fresh is not None and fresh.status == "accepted" and fresh.signed_envelope is not None
    env = X.from_bytes(fresh.signed_envelope.encode())
    hdon = env.find("DLieu/HDon")
    assert hdon is not None
    assert hdon.find(f"DSCKS/NBan/{{{X.DS_NS}}}Signature") is not None
    dlhdon = signing.verify_hdon(hdon, operator_creds.cert_pem)  # the invoice itself, signed by the seller
    assert dlhdon.tag == "DLHDon" and dlhdon.findtext("TTChung/SHDon") == str(inv.seq)
    signing.verify_tdiep(env, operator_creds.cert_pem)  # and the transmission envelope as before


async def test_the_tax_authority_refuses_an_invoice_without_the_sellers_signature(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle, sim: Any, operator_creds: signing.Credentials
) -> None:
    inv = await paid(sessionmaker, lot, 28_000)
    async with sessionmaker() as db:
        op = await db.get(Operator, lot.operator_id)
    assert op is not None
    unsigned = X.from_bytes(inv.xml.encode())
    tdiep = X.build_tdiep(unsigned, mngui=inv.mtdiep[:-32], mst=op.tax_code, mtdiep=inv.mtdiep)
    envelope = X.to_bytes(signing.sign_tdiep(tdiep, operator_creds))  # envelope signed, invoice not
    answer = await ProviderClient(sim.url, 5.0).submit(envelope)
    assert not answer.accepted and answer.code == "missing_seller_signature"


async def test_verify_reports_invoices_not_accepted_in_time(
    db: AsyncSession, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    inv = await paid(sessionmaker, lot, 29_000)  # issued, never transmitted here
    now = datetime.now(UTC)
    soon = await verify_day(db, VN_TODAY, now=now, accept_within=timedelta(hours=2))
    assert inv.mccqt not in [r["mccqt"] for r in soon.not_accepted_in_time]
    late = await verify_day(db, VN_TODAY, now=now + timedelta(hours=3), accept_within=timedelta(hours=2))
    [row] = [r for r in late.not_accepted_in_time if r["mccqt"] == inv.mccqt]
    assert row["status"] == "issued" and not late.clean
    accepted = await db.execute(text("UPDATE invoices SET status = 'accepted' WHERE id = :id"), {"id": inv.id})
    assert accepted.rowcount == 1  # type: ignore[attr-defined]
    done = await verify_day(db, VN_TODAY, now=now + timedelta(hours=3), accept_within=timedelta(hours=2))
    assert inv.mccqt not in [r["mccqt"] for r in done.not_accepted_in_time]
    await db.rollback()
