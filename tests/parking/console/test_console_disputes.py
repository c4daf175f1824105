"""Drivers' disputes and problem reports in the operator console: only the staff member's lots, the evidence
pack side by side, decisions through the disputes service (audited, read by the driver), problem reports as
console alerts delivered to the webhook, acknowledged from the console."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.console import alerts
from parking.kit.outbox import OutboxContext
from parking.models import AuditLog, ConsoleAlert, Lot, LotReport, OutboxMessage
from parking.settings import Settings
from tests.factories import LotHandle, event, make_lot, make_staff, random_car_plate
from tests.parking.console.test_console_alerts import webhook
from tests.parking.drivers.conftest import Idp, new_subject

__all__ = ["webhook"]


async def driver_with_plate(client: httpx.AsyncClient, idp: Idp, plate: str) -> dict[str, str]:
    sub = new_subject()
    idp.register(sub, [{"plate": plate, "vehicle_class": "car_small", "since": "2020-01-01"}])
    r = await client.post("/v1/drivers/oidc/token", json={"id_token": idp.token(sub)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def disputed_stay(
    client: httpx.AsyncClient, idp: Idp, lot: LotHandle, reason: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """A closed, unpaid three-hour stay at `lot` that its driver disputes."""
    plate = random_car_plate()
    driver = await driver_with_plate(client, idp, plate)
    at = datetime.now(UTC)
    await client.post(
        "/v1/gate/events", json=event("entry", plate, at=at - timedelta(hours=3)), headers=lot.entry.headers
    )
    ex = (await client.post("/v1/gate/events", json=event("exit", plate, at=at), headers=lot.exit.headers)).json()
    r = await client.post(
        "/v1/drivers/me/disputes",
        json={"session_id": ex["session_id"], "kind": "wrong_time", "reason": reason},
        headers=driver,
    )
    assert r.status_code == 201, r.text
    return r.json(), driver


async def test_disputes_and_reports_are_shown_and_decided_only_by_the_lots_staff(
    client: httpx.AsyncClient,
    idp: Idp,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    reason = f"Tôi chỉ gửi 2 giờ {uuid.uuid4().hex[:6]}"
    dispute, driver = await disputed_stay(client, idp, lot, reason)
    comment = f"Bảo vệ đòi 20.000 tiền mặt {uuid.uuid4().hex[:6]}"
    r = await client.post(
        f"/v1/lots/{lot.code}/reports", json={"kind": "cash_requested", "comment": comment}, headers=driver
    )
    assert r.status_code == 201, r.text
    report_id = r.json()["id"]
    r = await client.post(
        f"/v1/lots/{lot.code}/reports", json={"kind": "rating", "stars": 4, "comment": "sạch sẽ"}, headers=driver
    )
    assert r.status_code == 201, r.text

    # Another operator's admin, and a user of this operator limited to another lot: none of it on their pages.
    intruder = await make_staff(
        sessionmaker, (await make_lot(sessionmaker, capacities={"car_small": 1})).operator_id, "admin"
    )
    elsewhere = await make_lot(sessionmaker, capacities={"car_small": 1})
    async with sessionmaker() as db:
        await db.execute(update(Lot).where(Lot.id == elsewhere.id).values(operator_id=lot.operator_id))
        await db.commit()
    limited = await make_staff(sessionmaker, lot.operator_id, "supervisor", lot_ids=(elsewhere.id,))
    for outsider in (intruder, limited):
        for url in ("/console/disputes", "/console/reports?status=all", "/console/alerts?show=all"):
            page = await client.get(url, headers=outsider.headers)
            assert page.status_code == 200, page.text
            for secret in (dispute["id"], reason, report_id, comment, lot.code):
                assert secret not in page.text, (url, secret)
        r = await client.post(
            f"/console/disputes/{dispute['id']}/decision",
            data={"decision": "reject", "reason": "không phải bãi của tôi"},
            headers=outsider.headers,
        )
        assert r.status_code == 404, r.text
        r = await client.post(f"/console/reports/{report_id}/ack", data={}, headers=outsider.headers)
        assert r.status_code == 404, r.text

    # The lot's staff: the evidence pack side by side; who gets which button.
    pages = {}
    for role in ("operator", "supervisor", "auditor"):
        s = await make_staff(sessionmaker, lot.operator_id, role)
        pages[role] = (s, (await client.get("/console/disputes", headers=s.headers)).text)
    op, text = pages["operator"]
    card = re.search(rf'data-testid="dispute-{dispute["id"]}".*?</article>', text, re.S)
    assert card, text[:3000]
    html = card.group(0)
    assert reason in html and 'data-testid="fee-trace"' in html and "độ tin cậy" in html and "sai thời gian" in html
    assert f'data-testid="reject-{dispute["id"]}"' in html and f'data-testid="refund-{dispute["id"]}"' not in html
    assert f'data-testid="refund-{dispute["id"]}"' in pages["supervisor"][1]
    assert f'data-testid="dispute-{dispute["id"]}"' in pages["auditor"][1]
    assert f'data-testid="reject-{dispute["id"]}"' not in pages["auditor"][1]
    auditor = pages["auditor"][0]
    r = await client.post(
        f"/console/disputes/{dispute['id']}/decision",
        data={"decision": "reject", "reason": "xem"},
        headers=auditor.headers,
    )
    assert r.status_code == 403
    r = await client.post(
        f"/console/disputes/{dispute['id']}/decision", data={"decision": "refund", "reason": "hoàn"}, headers=op.headers
    )
    assert r.status_code == 403, r.text  # money back is a supervisor's call

    # The problem report raised a console alert of the lot, queued for the webhook like every alert.
    async with sessionmaker() as db:
        [alert] = (
            (await db.execute(select(ConsoleAlert).where(ConsoleAlert.dedupe_key == f"lot_report:{report_id}")))
            .scalars()
            .all()
        )
        msg = (
            await db.execute(select(OutboxMessage).where(OutboxMessage.key == f"alert-webhook-{alert.id}"))
        ).scalar_one()
        url, received = webhook
        ctx = OutboxContext(sessionmaker, None, {"settings": settings.model_copy(update={"alert_webhook_url": url})})
        await alerts.deliver(db, msg.payload, ctx)
    assert alert.kind == "lot_report" and alert.severity == "critical" and alert.lot_id == lot.id
    assert alert.operator_id == lot.operator_id and comment in alert.message
    assert received[0]["alert"]["kind"] == "lot_report" and received[0]["alert"]["data"]["report_id"] == report_id
    alerts_page = (await client.get("/console/alerts", headers=op.headers)).text
    assert f'data-testid="alert-lot_report-{lot.code}"' in alerts_page

    # Reports page: the report and the rating; acknowledging the report acknowledges its alert. Audited.
    reports = (await client.get("/console/reports", headers=op.headers)).text
    assert f'data-testid="report-{report_id}"' in reports and "bị đòi tiền mặt" in reports
    assert f'data-testid="rating-summary-{lot.code}"' in reports and "4.00 / 5" in reports
    assert f'data-testid="ack-report-{report_id}"' not in pages["auditor"][1]
    r = await client.post(f"/console/reports/{report_id}/ack", data={}, headers=op.headers)
    assert r.status_code == 303, r.text
    # The decision: rejected with its reason, which the driver reads.
    r = await client.post(
        f"/console/disputes/{dispute['id']}/decision",
        data={"decision": "reject", "reason": "Ảnh lối vào cho thấy đúng giờ vào."},
        headers=op.headers,
    )
    assert r.status_code == 303, r.text
    seen = (await client.get(f"/v1/drivers/me/disputes/{dispute['id']}", headers=driver)).json()
    assert seen["status"] == "rejected" and seen["decision_reason"] == "Ảnh lối vào cho thấy đúng giờ vào."
    async with sessionmaker() as db:
        rep = await db.get(LotReport, uuid.UUID(report_id))
        acked = await db.get(ConsoleAlert, alert.id)
        audit = (
            await db.execute(
                select(AuditLog.action, AuditLog.actor)
                .where(AuditLog.entity_id.in_([report_id, dispute["id"]]))
                .order_by(AuditLog.id)
            )
        ).all()
    assert rep is not None and rep.status == "acknowledged"
    assert (rep.acknowledged_by or "").startswith(f"staff:{op.email}#token:")
    assert acked is not None and acked.acknowledged_by == rep.acknowledged_by
    assert [tuple(a) for a in audit] == [
        ("report.acknowledged", rep.acknowledged_by),
        ("dispute.reject", rep.acknowledged_by),
    ]
    again = await client.post(
        f"/console/disputes/{dispute['id']}/decision",
        data={"decision": "reject", "reason": "lần nữa"},
        headers=op.headers,
    )
    assert again.status_code == 409
    decided = (await client.get("/console/disputes?status=rejected", headers=op.headers)).text
    assert f'data-testid="dispute-{dispute["id"]}"' in decided and "Ảnh lối vào cho thấy đúng giờ vào." in decided
    # The same pages in English.
    async with httpx.AsyncClient(base_url=client.base_url, cookies={"parking_lang": "en"}) as c:
        decided_en = (await c.get("/console/disputes?status=rejected", headers=op.headers)).text
        reports_en = (await c.get("/console/reports?status=all", headers=op.headers)).text
    assert 'lang="en"' in decided_en and "Fee trace" in decided_en and "wrong time" in decided_en
    assert "asked for cash" in reports_en and "Average stars" in reports_en and "acknowledged" in reports_en
