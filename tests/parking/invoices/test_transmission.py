"""Transmission through the outbox to the provider simulator (a real HTTP service): signature,
status tracking, retries without duplicates, rejections with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.invoices import signing
from parking.invoices import xml as X
from parking.models import Invoice, InvoiceEvent
from tests.factories import LotHandle
from tests.factories.invoices import deliver, drain_invoices, outbox_ctx, paid


@pytest.fixture
async def sim(
    einvoice_sim: Any, sessionmaker: async_sessionmaker[AsyncSession], operator_creds: signing.Credentials
) -> Any:
    # The worker delivers every due message: first deliver what earlier tests left, then start clean.
    await drain_invoices(outbox_ctx(sessionmaker, operator_creds, einvoice_sim.url))
    einvoice_sim.reset()
    return einvoice_sim


async def _state(sm: async_sessionmaker[AsyncSession], inv: Invoice) -> tuple[Invoice, list[InvoiceEvent]]:
    async with sm() as db:
        fresh = await db.get(Invoice, inv.id)
        events = (
            (await db.execute(select(InvoiceEvent).where(InvoiceEvent.invoice_id == inv.id).order_by(InvoiceEvent.id)))
            .scalars()
            .all()
        )
        assert fresh is not None
        return fresh, list(events)


async def test_accepted_and_signature_verifies(
    sessionmaker: async_sessionmaker[AsyncSession],
    lot: LotHandle,
    sim: Any,
    operator_creds: signing.Credentials,
) -> None:
    inv = await paid(sessionmaker, lot, 25_000)
    msg = await deliver(outbox_ctx(sessionmaker, operator_creds, sim.url), inv.id)
    assert msg.attempts == 1 and not msg.dead
    fresh, events = await _state(sessionmaker, inv)
    assert fresh.status == "accepted" and fresh.attempts == 1
    assert [e.status for e in events] == ["issued", "sent", "accepted"]
    # what was sent is signed by the operator and carries exactly the stored invoice
    assert fresh.signed_envelope is not None
    env = X.from_bytes(fresh.signed_envelope.encode())
    X.validate(env)
    dlieu = signing.verify_tdiep(env, operator_creds.cert_pem)
    assert X.summarize(dlieu[0]).mccqt == inv.mccqt
    assert env.findtext("TTChung/MTDiep") == inv.mtdiep
    got = sim.received()["invoices"]
    assert [(i["mccqt"], i["total_vnd"], i["vat_vnd"]) for i in got] == [(inv.mccqt, 25_000, 1_852)]


async def test_provider_failures_are_retried_without_duplicates(
    sessionmaker: async_sessionmaker[AsyncSession],
    lot: LotHandle,
    sim: Any,
    operator_creds: signing.Credentials,
) -> None:
    inv = await paid(sessionmaker, lot, 60_000)
    sim.fault("http_500")
    sim.fault("timeout", delay_s=2.0)  # the provider records it, but the answer comes too late
    msg = await deliver(outbox_ctx(sessionmaker, operator_creds, sim.url, timeout_s=0.5), inv.id)
    assert msg.attempts == 3 and msg.processed_at is not None
    fresh, events = await _state(sessionmaker, inv)
    assert fresh.status == "accepted" and fresh.attempts == 3
    assert [e.status for e in events] == ["issued", "sent", "sent", "sent", "sent", "sent", "accepted"]
    errors = [e.detail.get("error", "") for e in events if "error" in e.detail]
    assert "500" in errors[0] and "Timeout" in errors[1]
    assert events[-1].detail["duplicate"] is True  # the provider recognised the retry
    received = sim.received()
    assert [i["mccqt"] for i in received["invoices"]] == [inv.mccqt]  # one invoice at the tax authority
    assert received["invoices"][0]["deliveries"] == 2


async def test_rejection_is_final_and_keeps_the_reason(
    sessionmaker: async_sessionmaker[AsyncSession],
    lot: LotHandle,
    sim: Any,
    operator_creds: signing.Credentials,
) -> None:
    inv = await paid(sessionmaker, lot, 25_000)
    sim.fault("reject")
    msg = await deliver(outbox_ctx(sessionmaker, operator_creds, sim.url), inv.id)
    assert msg.attempts == 1 and msg.processed_at is not None  # not retried: a rejection is an answer
    fresh, events = await _state(sessionmaker, inv)
    assert fresh.status == "rejected"
    assert fresh.status_reason is not None and "simulated_rejection" in fresh.status_reason
    assert events[-1].status == "rejected" and events[-1].detail["code"] == "simulated_rejection"


async def test_wrong_certificate_is_rejected_by_the_provider(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle, sim: Any, make_creds: Any
) -> None:
    inv = await paid(sessionmaker, lot, 25_000)
    await deliver(outbox_ctx(sessionmaker, make_creds(), sim.url), inv.id)
    fresh, _ = await _state(sessionmaker, inv)
    assert fresh.status == "rejected" and "invalid_signature" in (fresh.status_reason or "")
    assert sim.received()["invoices"] == []
