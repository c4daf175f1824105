"""Alerts: raised from the lots' and lanes' state, one open alert per condition, delivered to a real webhook
(an HTTP server in the test), acknowledged by a person."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.console import alerts
from parking.kit.outbox import OutboxContext
from parking.models import ConsoleAlert, Lane, OutboxMessage
from parking.settings import Settings
from tests.factories import LotHandle, event, make_lot, make_staff


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    srv = HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}/hook", received
    srv.shutdown()


async def _mine(sm: async_sessionmaker[AsyncSession], operator_id: uuid.UUID) -> list[ConsoleAlert]:
    async with sm() as db:
        rows = await db.execute(select(ConsoleAlert).where(ConsoleAlert.operator_id == operator_id))
        return list(rows.scalars())


async def test_full_lot_and_offline_lane_raise_one_alert_each_delivered_and_acknowledged(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis_url: str,
    settings: Settings,
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    lot: LotHandle = await make_lot(sessionmaker, capacities={"car_small": 1})
    await client.post("/v1/gate/events", json=event("entry", "30A-777.11"), headers=lot.entry.headers)  # now full
    async with sessionmaker() as db:  # the exit lane was seen once, long ago, and its heartbeat has expired
        await db.execute(
            update(Lane).where(Lane.id == lot.exit.id).values(last_seen_at=datetime.now(UTC) - timedelta(minutes=5))
        )
        await db.commit()
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        for _ in range(2):  # evaluated twice: still one open alert per condition
            async with sessionmaker() as db:
                await alerts.evaluate(db, redis, settings, datetime.now(UTC))
                await db.commit()
        mine = await _mine(sessionmaker, lot.operator_id)
        kinds = sorted(a.kind for a in mine)
        assert kinds == ["lane_offline", "lot_full"], kinds
        # Each alert was queued for the webhook in the transaction that raised it; deliver one for real.
        url, received = webhook
        full = next(a for a in mine if a.kind == "lot_full")
        async with sessionmaker() as db:
            msg = (
                await db.execute(select(OutboxMessage).where(OutboxMessage.key == f"alert-webhook-{full.id}"))
            ).scalar_one()
            ctx = OutboxContext(
                sessionmaker, redis, {"settings": settings.model_copy(update={"alert_webhook_url": url})}
            )
            await alerts.deliver(db, msg.payload, ctx)
        assert received[0]["type"] == "parking.alert" and received[0]["alert"]["kind"] == "lot_full"
        assert received[0]["alert"]["lot_id"] == str(lot.id)
    finally:
        await redis.aclose()
    # A person acknowledges it; the same condition may then open a new alert.
    op = await make_staff(sessionmaker, lot.operator_id, "operator")
    other = await make_staff(
        sessionmaker, (await make_lot(sessionmaker, capacities={"car_small": 1})).operator_id, "admin"
    )
    assert (await client.post(f"/console/alerts/{full.id}/ack", data={}, headers=other.headers)).status_code == 404
    r = await client.post(f"/console/alerts/{full.id}/ack", data={"note": "xe đã ra"}, headers=op.headers)
    assert r.status_code == 303
    async with sessionmaker() as db:
        acked = await db.get(ConsoleAlert, full.id)
    assert acked is not None and (acked.acknowledged_by or "").startswith(f"staff:{op.email}#token:")
    assert acked.ack_note == "xe đã ra" and acked.acknowledged_at is not None


async def test_a_missing_signing_certificate_and_yesterdays_discrepancies_reach_the_operators_console(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    from parking.invoices.tasks import ALERT_NO_CERTIFICATE
    from parking.kit.alerts import raise_alert as raise_platform_alert
    from parking.models import Discrepancy, Operator
    from parking.vocabulary import VN_TZ

    lot = await make_lot(sessionmaker, capacities={"car_small": 10})
    other = await make_lot(sessionmaker, capacities={"car_small": 10})
    now = datetime.now(UTC)
    yesterday = (now.astimezone(VN_TZ) - timedelta(days=1)).date()
    async with sessionmaker() as db:
        code = (await db.execute(select(Operator.code).where(Operator.id == lot.operator_id))).scalar_one()
        await raise_platform_alert(db, ALERT_NO_CERTIFICATE, code, "Chưa có chứng thư số / no signing certificate")
        for kind in ("amount_mismatch", "amount_mismatch", "orphan_credit"):
            db.add(
                Discrepancy(
                    business_date=yesterday, code=kind, lot_id=lot.id, evidence={}, action_vi="xem", action_en="check"
                )
            )
        await db.commit()
    async with sessionmaker() as db:
        await alerts.evaluate(db, None, settings, now)
        await db.commit()
    mine = {a.kind: a for a in await _mine(sessionmaker, lot.operator_id)}
    assert "einvoice_no_certificate" in mine
    recon = mine["reconciliation_discrepancy"]
    assert recon.lot_id == lot.id and recon.data["counts"] == {"amount_mismatch": 2, "orphan_credit": 1}
    theirs = {a.kind for a in await _mine(sessionmaker, other.operator_id)}
    assert "einvoice_no_certificate" not in theirs and "reconciliation_discrepancy" not in theirs
    # Seen again at the next tick: still one open alert per condition.
    async with sessionmaker() as db:
        await alerts.evaluate(db, None, settings, now)
        await db.commit()
    again = [a.kind for a in await _mine(sessionmaker, lot.operator_id)]
    assert again.count("einvoice_no_certificate") == 1 and again.count("reconciliation_discrepancy") == 1
