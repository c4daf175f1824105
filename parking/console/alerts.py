"""Alert evaluation (a periodic job) and delivery to the configured webhook through the outbox.

Each condition has a dedupe key: one open alert per condition until a person acknowledges it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import structlog
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parking.disputes import hooks as dispute_hooks
from parking.invoices.tasks import ALERT_NO_CERTIFICATE
from parking.kit import outbox
from parking.models import (
    Alert,
    ConsoleAlert,
    Debt,
    Discrepancy,
    GateEvent,
    Invoice,
    Lane,
    Lot,
    Operator,
    OutboxMessage,
    ParkingSession,
)
from parking.occupancy.service import lot_snapshot
from parking.settings import Settings
from parking.vocabulary import VN_TZ

log = structlog.get_logger("parking.console.alerts")
TOPIC_WEBHOOK = "console.alert_webhook"
STREAM = "console:alerts"


async def raise_alert(
    db: AsyncSession,
    *,
    operator_id: uuid.UUID,
    lot_id: uuid.UUID | None,
    kind: str,
    severity: str,
    message: str,
    dedupe_key: str,
    data: dict[str, Any] | None = None,
) -> uuid.UUID | None:
    """Open an alert unless the same condition is already open; queue its webhook delivery. Returns its id."""
    alert_id = uuid.uuid4()
    inserted = (
        await db.execute(
            insert(ConsoleAlert)
            .values(
                id=alert_id,
                operator_id=operator_id,
                lot_id=lot_id,
                kind=kind,
                severity=severity,
                message=message,
                dedupe_key=dedupe_key,
                data=data or {},
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"], index_where=ConsoleAlert.acknowledged_at.is_(None))
            .returning(ConsoleAlert.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        return None
    payload = {
        "id": str(alert_id),
        "operator_id": str(operator_id),
        "lot_id": str(lot_id) if lot_id else None,
        "kind": kind,
        "severity": severity,
        "message": message,
        "data": data or {},
    }
    await outbox.enqueue(db, TOPIC_WEBHOOK, payload, key=f"alert-webhook-{alert_id}")
    return alert_id


@outbox.handler(TOPIC_WEBHOOK)
async def deliver(db: AsyncSession, payload: dict[str, Any], ctx: outbox.OutboxContext) -> None:
    """POST the alert to the webhook (retried by the outbox with backoff); also tell open consoles."""
    settings: Settings | None = ctx.extras.get("settings")
    if ctx.redis is not None:
        await ctx.redis.publish(STREAM, orjson.dumps(payload).decode())
    url = settings.alert_webhook_url if settings else None
    if not url:
        return
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(url, json={"type": "parking.alert", "alert": payload})
        r.raise_for_status()


async def evaluate(db: AsyncSession, redis: Redis | None, settings: Settings, now: datetime) -> int:
    """Look at every lot and lane; open the alerts whose condition holds. Returns how many were opened."""
    opened = 0
    lots = {lot.id: lot for lot in (await db.execute(select(Lot))).scalars()}

    async def alert(
        lot: Lot | None, operator_id: uuid.UUID, kind: str, severity: str, msg: str, key: str, **data: Any
    ) -> None:
        nonlocal opened
        got = await raise_alert(
            db,
            operator_id=operator_id,
            lot_id=lot.id if lot else None,
            kind=kind,
            severity=severity,
            message=msg,
            dedupe_key=key,
            data=data,
        )
        opened += got is not None

    for snap in await lot_snapshot(db, redis):
        lot = lots[uuid.UUID(snap["lot_id"])]
        for vclass, c in snap["classes"].items():
            if c["capacity"] <= 0:
                continue
            if c["occupied"] >= c["capacity"]:
                await alert(
                    lot,
                    lot.operator_id,
                    "lot_full",
                    "critical",
                    f"{lot.code}: {vclass} đầy / full ({c['occupied']}/{c['capacity']})",
                    f"lot_full:{lot.id}:{vclass}",
                    vehicle_class=vclass,
                    **c,
                )
            elif c["occupied"] * 10_000 >= c["capacity"] * settings.lot_nearly_full_bp:
                await alert(
                    lot,
                    lot.operator_id,
                    "lot_nearly_full",
                    "warning",
                    f"{lot.code}: {vclass} sắp đầy / nearly full ({c['occupied']}/{c['capacity']})",
                    f"lot_nearly_full:{lot.id}:{vclass}",
                    vehicle_class=vclass,
                    **c,
                )

    for lane in (await db.execute(select(Lane).where(Lane.enabled.is_(True)))).scalars():
        lot = lots[lane.lot_id]
        hb = await redis.get(f"lane:{lane.id}:hb") if redis is not None else None
        if hb is None and lane.last_seen_at is not None:  # a lane never seen is not yet installed
            await alert(
                lot,
                lot.operator_id,
                "lane_offline",
                "critical",
                f"{lot.code}/{lane.code}: làn mất kết nối / lane offline",
                f"lane_offline:{lane.id}",
                lane=lane.code,
                last_seen_at=lane.last_seen_at.isoformat(),
            )
        depth = (orjson.loads(hb) if hb else {}).get("queue_depth") or 0
        if depth >= settings.queue_backing_up_depth:
            await alert(
                lot,
                lot.operator_id,
                "queue_backing_up",
                "warning",
                f"{lot.code}/{lane.code}: hàng đợi {depth} / queue backing up",
                f"queue:{lane.id}",
                lane=lane.code,
                queue_depth=depth,
            )

    overstay = now - timedelta(hours=settings.overstay_hours)
    for sess in (
        await db.execute(
            select(ParkingSession).where(ParkingSession.status == "open", ParkingSession.entry_at < overstay).limit(200)
        )
    ).scalars():
        lot = lots[sess.lot_id]
        await alert(
            lot,
            lot.operator_id,
            "overstay",
            "info",
            f"{lot.code}: {sess.plate} gửi quá {settings.overstay_hours} giờ / overstay",
            f"overstay:{sess.id}",
            session_id=str(sess.id),
            plate=sess.plate,
        )

    recent = now - timedelta(hours=24)
    for debt in (await db.execute(select(Debt).where(Debt.created_at >= recent).limit(200))).scalars():
        debt_lot = lots.get(debt.lot_id) if debt.lot_id else None
        if debt_lot is not None:
            await alert(
                debt_lot,
                debt_lot.operator_id,
                "unpaid_exit",
                "warning",
                f"{debt_lot.code}: {debt.plate} ra chưa trả {debt.amount_vnd:,} ₫ / unpaid exit",
                f"unpaid_exit:{debt.id}",
                debt_id=str(debt.id),
                amount_vnd=debt.amount_vnd,
            )
    debt_entries = await db.execute(
        select(GateEvent)
        .where(
            GateEvent.received_at >= recent,
            GateEvent.kind == "entry",
            GateEvent.decision["flags"].contains(["has_debt"]),
        )
        .limit(200)
    )
    for ev in debt_entries.scalars():
        lot = lots[ev.lot_id]
        await alert(
            lot,
            lot.operator_id,
            "debt_at_entry",
            "info",
            f"{lot.code}: {ev.plate} vào khi còn nợ / entered with a debt",
            f"debt_at_entry:{ev.id}",
            event_id=str(ev.id),
            plate=ev.plate,
        )

    rejected = await db.execute(
        select(Invoice).where(Invoice.status == "rejected", Invoice.issued_at >= now - timedelta(days=7)).limit(200)
    )
    for inv in rejected.scalars():
        await alert(
            None,
            inv.operator_id,
            "einvoice_rejected",
            "critical",
            f"Hóa đơn {inv.mccqt} bị cơ quan thuế từ chối / e-invoice rejected",
            f"einvoice_rejected:{inv.id}",
            mccqt=inv.mccqt,
            reason=inv.status_reason,
        )

    # Dead outbox messages are the platform's, not one operator's: every operator's admins are told how many.
    dead = (await db.execute(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.dead))).scalar_one()
    if dead:
        for op_id in {lot.operator_id for lot in lots.values()}:
            await alert(
                None,
                op_id,
                "outbox_dead",
                "critical",
                f"{dead} tin nhắn nền bị bỏ / background messages dead",
                f"outbox_dead:{op_id}",
                count=int(dead),
            )

    # Platform alerts raised elsewhere (table `alerts`, e.g. e-invoices waiting for the operator's signing
    # certificate, subject = the operator's code) reach that operator's console too.
    op_by_code = {code: oid for oid, code in (await db.execute(select(Operator.id, Operator.code))).all()}
    for pa in (await db.execute(select(Alert).where(Alert.resolved_at.is_(None)))).scalars():
        cert_op = op_by_code.get(pa.subject)
        if cert_op is not None and pa.kind == ALERT_NO_CERTIFICATE:
            await alert(None, cert_op, "einvoice_no_certificate", "critical", pa.message, f"{pa.kind}:{pa.subject}")

    # Yesterday's reconciliation (local business day): one alert per lot with unexplained discrepancies.
    day = (now.astimezone(VN_TZ) - timedelta(days=1)).date()
    rows = (
        await db.execute(
            select(Discrepancy.lot_id, Discrepancy.code, func.count())
            .where(Discrepancy.business_date == day, Discrepancy.lot_id.is_not(None))
            .group_by(Discrepancy.lot_id, Discrepancy.code)
        )
    ).all()
    by_lot: dict[uuid.UUID, dict[str, int]] = {}
    for rlot_id, code, n in rows:
        if rlot_id is not None:
            by_lot.setdefault(rlot_id, {})[code] = int(n)
    for rlot_id, counts in by_lot.items():
        recon_lot = lots.get(rlot_id)
        if recon_lot is None:
            continue
        total = sum(counts.values())
        await alert(
            recon_lot,
            recon_lot.operator_id,
            "reconciliation_discrepancy",
            "warning",
            f"{recon_lot.code}: {total} chênh lệch đối soát ngày {day:%d/%m/%Y} / reconciliation discrepancies",
            f"reconciliation_discrepancy:{rlot_id}:{day}",
            business_date=str(day),
            counts=counts,
        )
    return opened


@dispute_hooks.on_problem_reported
async def _problem_report_alert(db: AsyncSession, event: dispute_hooks.ProblemReported) -> None:
    """A driver's problem report is an alert of its lot's operator (acknowledging the report closes it)."""
    await raise_alert(
        db,
        operator_id=event.operator_id,
        lot_id=event.lot_id,
        kind="lot_report",
        severity=event.severity,
        message=event.message,
        dedupe_key=event.dedupe_key,
        data=event.data,
    )
