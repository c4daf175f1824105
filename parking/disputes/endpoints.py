"""Disputes (driver files, operator decides), lot ratings and problem reports (operator alerts)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from parking.disputes import schemas as S
from parking.disputes import service
from parking.drivers.auth import CurrentDriver
from parking.drivers.staff import Desk
from parking.kit import ratelimit
from parking.kit.deps import DB, State
from parking.kit.errors import AppError
from parking.models import LotReport

router = APIRouter(tags=["disputes and feedback"])
operator_router = APIRouter(prefix="/v1/operator", tags=["operator: disputes and reports"])

REPORTS_PER_MINUTE = 10  # per driver: a report is an alert to a person; flooding it helps nobody


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _report_out(r: LotReport, code: str) -> S.ReportOut:
    return S.ReportOut(
        id=r.id,
        lot_code=code,
        kind=r.kind,
        stars=r.stars,
        comment=r.comment,
        status=r.status,
        created_at=r.created_at,
        acknowledged_at=r.acknowledged_at,
    )


@router.post("/v1/drivers/me/disputes", response_model=S.DisputeOut, status_code=201, summary="Dispute a session")
async def file_dispute(
    body: S.DisputeIn, request: Request, db: DB, state: State, driver: CurrentDriver
) -> S.DisputeOut:
    d = await service.file_dispute(
        db, state.tariffs, driver, session_id=body.session_id, kind=body.kind, reason=body.reason
    )
    view = await service.dispute_view(db, d, base_url=_base(request), with_evidence=False)
    return S.DisputeOut.model_validate(view)


@router.get("/v1/drivers/me/disputes", response_model=list[S.DisputeOut], summary="My disputes and their decisions")
async def my_disputes(request: Request, db: DB, driver: CurrentDriver) -> list[S.DisputeOut]:
    return [
        S.DisputeOut.model_validate(await service.dispute_view(db, d, base_url=_base(request), with_evidence=False))
        for d in await service.disputes_of(db, driver)
    ]


@router.get("/v1/drivers/me/disputes/{dispute_id}", response_model=S.DisputeOut)
async def my_dispute(dispute_id: uuid.UUID, request: Request, db: DB, driver: CurrentDriver) -> S.DisputeOut:
    d = await service.dispute_for_driver(db, driver, dispute_id)
    return S.DisputeOut.model_validate(await service.dispute_view(db, d, base_url=_base(request), with_evidence=False))


@router.post(
    "/v1/lots/{lot_code}/reports",
    response_model=S.ReportOut,
    status_code=201,
    summary="Rate a lot or report a problem (asked for cash, shown free but full, barrier broken)",
)
async def report(
    lot_code: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,32}$")],
    body: S.ReportIn,
    db: DB,
    state: State,
    driver: CurrentDriver,
) -> S.ReportOut:
    await ratelimit.check(state.redis, "reports", str(driver.id), REPORTS_PER_MINUTE)
    r = await service.report(db, driver, lot_code=lot_code, kind=body.kind, stars=body.stars, comment=body.comment)
    return _report_out(r, lot_code)


@operator_router.get("/disputes", response_model=list[S.DisputeReview], summary="Review queue with evidence packs")
async def review_queue(
    request: Request,
    db: DB,
    staff: Desk,
    status: Annotated[str | None, Query(pattern="^(open|refunded|rejected)$")] = "open",
) -> list[S.DisputeReview]:
    return [
        S.DisputeReview.model_validate(await service.dispute_view(db, d, base_url=_base(request), with_evidence=True))
        for d in await service.review_queue(db, status, lot_ids=staff.lot_ids)
    ]


@operator_router.post(
    "/disputes/{dispute_id}/decision",
    response_model=S.DisputeReview,
    summary="Decide: refund (adjustment invoice follows) or reject with the reason the driver reads",
)
async def decide(dispute_id: uuid.UUID, body: S.DecisionIn, request: Request, db: DB, staff: Desk) -> S.DisputeReview:
    if body.decision == "refund" and not staff.has("supervisor"):
        # Money goes back: a supervisor's call (like POST /v1/payments/{id}/refunds); an operator may reject.
        raise AppError("forbidden", "Only a supervisor may refund.", 403, {"role": staff.role, "needs": ["supervisor"]})
    d = await service.decide(
        db,
        dispute_id,
        decision=body.decision,
        reason=body.reason,
        actor=staff.actor,
        lot_ids=staff.lot_ids,
        amount_vnd=body.amount_vnd,
        payment_id=body.payment_id,
    )
    view = await service.dispute_view(db, d, base_url=_base(request), with_evidence=True)
    return S.DisputeReview.model_validate(view)


@operator_router.get("/reports", response_model=list[S.ReportOut], summary="Problem reports (alerts), newest first")
async def reports(
    db: DB, staff: Desk, status: Annotated[str | None, Query(pattern="^(new|acknowledged|closed)$")] = "new"
) -> list[S.ReportOut]:
    found = await service.operator_reports(db, status=status, lot_ids=staff.lot_ids)
    return [_report_out(r, code) for r, code in found]


@operator_router.post("/reports/{report_id}/ack", response_model=S.ReportOut, summary="Acknowledge or close a report")
async def ack(report_id: uuid.UUID, body: S.AckIn, db: DB, staff: Desk) -> S.ReportOut:
    r, code = await service.acknowledge(db, report_id, actor=staff.actor, close=body.close, lot_ids=staff.lot_ids)
    return _report_out(r, code)
