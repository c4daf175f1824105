"""Disputes of a session's fee, and ratings / problem reports about lots. Never commits.

A dispute freezes its evidence pack when filed (the fee proof and the session's payments and invoices) and
ends in an operator's decision: a refund through the payments service (the provider refund and the
adjustment e-invoice follow through the outbox), or a rejection with its reason. The driver sees both.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import vnplate
from parking.disputes import hooks
from parking.drivers import proof
from parking.drivers import service as drivers
from parking.kit.errors import AppError
from parking.models import Dispute, Driver, Invoice, Lot, LotReport, ParkingSession, Payment, Refund
from parking.payments import service as payments
from parking.pricing import TariffBook

REFUNDABLE = ("confirmed", "partially_refunded")
# The alert's message is stored once and read by Vietnamese and English staff alike: both, Vietnamese first.
REPORT_LABELS = {
    "cash_requested": "tài xế báo bị đòi tiền mặt / driver asked for cash",
    "shown_free_but_full": "báo bãi đầy dù hiển thị còn chỗ / shown free but full",
    "barrier_broken": "báo barie hỏng / barrier broken",
    "other": "tài xế báo sự cố / driver reported a problem",
}


def report_alert_key(report_id: uuid.UUID) -> str:
    """The dedupe key of the console alert a problem report raises (acknowledging the report closes it)."""
    return f"lot_report:{report_id}"


async def _evidence(db: AsyncSession, book: TariffBook, session: ParkingSession) -> dict[str, Any]:
    try:
        fee = await proof.fee_proof(db, book, session)
    except AppError as exc:  # e.g. an unknown entry: the operator still gets the rest
        fee = {"unavailable": exc.code}
    pays = (
        (await db.execute(select(Payment).where(Payment.session_id == session.id).order_by(Payment.created_at)))
        .scalars()
        .all()
    )
    invoices = (
        (await db.execute(select(Invoice).where(Invoice.session_id == session.id).order_by(Invoice.issued_at)))
        .scalars()
        .all()
    )
    return {
        "collected_at": datetime.now(UTC).isoformat(),
        "fee_proof": fee,
        "session_flags": list(session.flags or []),
        "exit_plate_read": session.exit_plate,
        "payments": [
            {
                "id": str(p.id),
                "amount_vnd": p.amount_vnd,
                "refunded_vnd": p.refunded_vnd,
                "status": p.status,
                "method": p.method,
                "provider": p.provider,
                "confirmed_at": p.confirmed_at.isoformat() if p.confirmed_at else None,
            }
            for p in pays
        ],
        "invoices": [
            {"mccqt": i.mccqt, "kind": i.kind, "total_vnd": i.total_vnd, "status": i.status} for i in invoices
        ],
    }


async def file_dispute(
    db: AsyncSession, book: TariffBook, driver: Driver, *, session_id: uuid.UUID, kind: str, reason: str
) -> Dispute:
    if not await drivers.owns_session(db, driver, session_id):
        raise AppError("session_not_found", "No such session on this account.", 404)
    if not reason.strip():
        raise AppError("reason_required", "Say what is wrong (a reason is required).", 422)
    existing = (
        await db.execute(
            select(Dispute).where(
                Dispute.session_id == session_id, Dispute.driver_id == driver.id, Dispute.status == "open"
            )
        )
    ).scalar()
    if existing is not None:
        return existing
    session = await proof.load_session(db, session_id)
    d = Dispute(
        id=uuid.uuid4(),
        session_id=session.id,
        driver_id=driver.id,
        lot_id=session.lot_id,
        kind=kind,
        reason=reason.strip(),
        evidence=await _evidence(db, book, session),
        status="open",
    )
    try:
        async with db.begin_nested():
            db.add(d)
            await db.flush()
    except IntegrityError:  # the same dispute filed twice at once: the first stands
        found = (
            await db.execute(
                select(Dispute).where(
                    Dispute.session_id == session_id, Dispute.driver_id == driver.id, Dispute.status == "open"
                )
            )
        ).scalar_one()
        return found
    return d


async def disputes_of(db: AsyncSession, driver: Driver) -> list[Dispute]:
    rows = await db.execute(
        select(Dispute).where(Dispute.driver_id == driver.id).order_by(Dispute.created_at.desc()).limit(100)
    )
    return list(rows.scalars())


async def dispute_for_driver(db: AsyncSession, driver: Driver, dispute_id: uuid.UUID) -> Dispute:
    d = (await db.execute(select(Dispute).where(Dispute.id == dispute_id, Dispute.driver_id == driver.id))).scalar()
    if d is None:
        raise AppError("dispute_not_found", "No such dispute on this account.", 404)
    return d


async def get_dispute(
    db: AsyncSession, dispute_id: uuid.UUID, *, lot_ids: Sequence[uuid.UUID], lock: bool = False
) -> Dispute:
    """A dispute of one of `lot_ids` (the staff member's lots); any other answers 404 as if it did not exist."""
    q = select(Dispute).where(Dispute.id == dispute_id, Dispute.lot_id.in_(lot_ids))
    d = (await db.execute(q.with_for_update() if lock else q)).scalar()
    if d is None:
        raise AppError("dispute_not_found", f"No dispute {dispute_id}.", 404)
    return d


async def review_queue(
    db: AsyncSession, status: str | None, *, lot_ids: Sequence[uuid.UUID], limit: int = 100
) -> list[Dispute]:
    q = select(Dispute).where(Dispute.lot_id.in_(lot_ids)).order_by(Dispute.created_at).limit(limit)
    if status:
        q = q.where(Dispute.status == status)
    return list((await db.execute(q)).scalars())


async def decide(
    db: AsyncSession,
    dispute_id: uuid.UUID,
    *,
    decision: str,
    reason: str,
    actor: str,
    lot_ids: Sequence[uuid.UUID],
    amount_vnd: int | None = None,
    payment_id: uuid.UUID | None = None,
) -> Dispute:
    d = await get_dispute(db, dispute_id, lot_ids=lot_ids, lock=True)
    if d.status != "open":
        raise AppError("dispute_decided", f"This dispute is already {d.status}.", 409)
    if not reason.strip():
        raise AppError("reason_required", "A decision needs its reason, which the driver will read.", 422)
    if decision == "refund":
        q = select(Payment).where(Payment.session_id == d.session_id, Payment.status.in_(REFUNDABLE))
        if payment_id is not None:
            q = q.where(Payment.id == payment_id)
        p = (await db.execute(q.order_by(Payment.confirmed_at.desc().nulls_last()))).scalars().first()
        if p is None:
            raise AppError("no_refundable_payment", "This session has no confirmed payment to refund.", 409)
        amount = amount_vnd if amount_vnd is not None else p.amount_vnd - p.refunded_vnd
        r = await payments.refund(
            db, payment_id=p.id, amount_vnd=amount, reason=f"Khiếu nại {d.id}: {reason.strip()}", actor=actor
        )
        d.status, d.refund_id, d.refund_vnd = "refunded", r.id, amount
    elif decision == "reject":
        d.status = "rejected"
    else:
        raise AppError("unknown_decision", "A decision is 'refund' or 'reject'.", 422)
    d.decision_reason, d.decided_by, d.decided_at = reason.strip(), actor, datetime.now(UTC)
    await db.flush()
    return d


async def dispute_view(db: AsyncSession, d: Dispute, *, base_url: str, with_evidence: bool) -> dict[str, Any]:
    from parking.invoices.service import lookup_url

    row = (
        await db.execute(
            select(ParkingSession.plate, ParkingSession.vehicle_class, Lot.code, Lot.name)
            .join(Lot, Lot.id == ParkingSession.lot_id)
            .where(ParkingSession.id == d.session_id)
        )
    ).one()
    refund_status = adjustment = None
    if d.refund_id is not None:
        refund_status = (await db.execute(select(Refund.status).where(Refund.id == d.refund_id))).scalar()
        inv = (await db.execute(select(Invoice).where(Invoice.refund_id == d.refund_id))).scalar()
        if inv is not None:
            adjustment = {"mccqt": inv.mccqt, "total_vnd": inv.total_vnd, "url": lookup_url(base_url, inv.mccqt)}
    out: dict[str, Any] = {
        "id": str(d.id),
        "session_id": str(d.session_id),
        "lot": {"code": row.code, "name": row.name},
        "plate": vnplate.display(row.plate, row.vehicle_class) if row.plate else None,
        "kind": d.kind,
        "reason": d.reason,
        "status": d.status,
        "decision_reason": d.decision_reason,
        "refund_vnd": d.refund_vnd,
        "refund_status": refund_status,
        "adjustment_invoice": adjustment,
        "created_at": d.created_at.isoformat(),
        "decided_at": d.decided_at.isoformat() if d.decided_at else None,
    }
    if with_evidence:
        out["evidence"] = d.evidence
        out["decided_by"] = d.decided_by
    return out


async def lot_by_code(db: AsyncSession, code: str) -> Lot:
    lot = (await db.execute(select(Lot).where(Lot.code == code))).scalar()
    if lot is None:
        raise AppError("lot_not_found", f"No lot {code}.", 404)
    return lot


async def report(
    db: AsyncSession, driver: Driver, *, lot_code: str, kind: str, stars: int | None, comment: str
) -> LotReport:
    lot = await lot_by_code(db, lot_code)
    if (kind == "rating") != (stars is not None):
        raise AppError("invalid_report", "A rating has 1-5 stars; a problem report has none.", 422)
    r = LotReport(id=uuid.uuid4(), lot_id=lot.id, driver_id=driver.id, kind=kind, stars=stars, comment=comment.strip())
    db.add(r)
    await db.flush()
    if kind != "rating":  # a problem report is an alert: to the operator's console and the city's webhooks
        from parking.city.service import enqueue_event

        await hooks.problem_reported(
            db,
            hooks.ProblemReported(
                operator_id=lot.operator_id,
                lot_id=lot.id,
                severity="critical" if kind == "cash_requested" else "warning",
                message=f"{lot.code}: {REPORT_LABELS.get(kind, kind)}" + (f" — {r.comment}" if r.comment else ""),
                dedupe_key=report_alert_key(r.id),
                data={"report_id": str(r.id), "report_kind": kind, "comment": r.comment},
            ),
        )

        await enqueue_event(
            db,
            "alert",
            {
                "placeId": lot.code,
                "kind": kind,
                "comment": r.comment,
                "reported_at": datetime.now(UTC).isoformat(),
            },
        )
    return r


async def operator_reports(
    db: AsyncSession, *, status: str | None, lot_ids: Sequence[uuid.UUID], limit: int = 200
) -> list[tuple[LotReport, str]]:
    q = (
        select(LotReport, Lot.code)
        .join(Lot, Lot.id == LotReport.lot_id)
        .where(LotReport.kind != "rating", LotReport.lot_id.in_(lot_ids))
        .order_by(LotReport.created_at.desc())
        .limit(limit)
    )
    if status:
        q = q.where(LotReport.status == status)
    return [(r, code) for r, code in (await db.execute(q)).all()]


async def acknowledge(
    db: AsyncSession, report_id: uuid.UUID, *, actor: str, close: bool, lot_ids: Sequence[uuid.UUID]
) -> tuple[LotReport, str]:
    row = (
        await db.execute(
            select(LotReport, Lot.code)
            .join(Lot, Lot.id == LotReport.lot_id)
            .where(LotReport.id == report_id, LotReport.lot_id.in_(lot_ids))
        )
    ).one_or_none()
    if row is None or row[0].kind == "rating":
        raise AppError("report_not_found", f"No problem report {report_id}.", 404)
    r, code = row
    r.status = "closed" if close else "acknowledged"
    r.acknowledged_by, r.acknowledged_at = actor, datetime.now(UTC)
    await db.flush()
    return r, code


async def rating_summary(db: AsyncSession, lot_id: uuid.UUID) -> dict[str, Any]:
    n, avg = (
        await db.execute(
            select(func.count(), func.avg(LotReport.stars)).where(
                LotReport.lot_id == lot_id, LotReport.kind == "rating"
            )
        )
    ).one()
    return {"ratings": int(n), "average_stars": round(float(avg), 2) if avg is not None else None}


async def lot_ratings(
    db: AsyncSession, *, lot_ids: Sequence[uuid.UUID], limit: int = 100
) -> list[tuple[LotReport, str]]:
    """The latest ratings of `lot_ids`, newest first, with their lot's code."""
    q = (
        select(LotReport, Lot.code)
        .join(Lot, Lot.id == LotReport.lot_id)
        .where(LotReport.kind == "rating", LotReport.lot_id.in_(lot_ids))
        .order_by(LotReport.created_at.desc())
        .limit(limit)
    )
    return [(r, code) for r, code in (await db.execute(q)).all()]


async def rating_summaries(db: AsyncSession, *, lot_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """Per lot of `lot_ids` that has ratings: how many and the average stars."""
    rows = await db.execute(
        select(Lot.code, func.count(), func.avg(LotReport.stars))
        .join(Lot, Lot.id == LotReport.lot_id)
        .where(LotReport.kind == "rating", LotReport.lot_id.in_(lot_ids))
        .group_by(Lot.code)
        .order_by(Lot.code)
    )
    return [{"lot_code": code, "ratings": int(n), "average_stars": round(float(avg), 2)} for code, n, avg in rows]
