"""Driver-facing API under /v1/drivers, authenticated with the driver's own bearer token."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request, Response

from parking.drivers import proof, service
from parking.drivers import repository as drivers_repo
from parking.drivers import schemas as S
from parking.drivers.auth import CurrentDriver, issue_token
from parking.drivers.oidc import verify_id_token
from parking.drivers.settings import get_driver_settings
from parking.drivers.staff import Desk
from parking.kit.deps import DB, State
from parking.kit.errors import AppError
from parking.models import Debt, DriverVehicle, MonthlyPass, PaymentMethod, VehicleClaim
from parking.payments import service as payments
from parking.payments.settings import get_payment_settings
from parking.staff.deps import authenticate as authenticate_staff

router = APIRouter(prefix="/v1/drivers", tags=["drivers"])
sessions_router = APIRouter(tags=["fee proof"])

FEE_PROOF_EXAMPLE: dict[str, Any] = {
    "session_id": "5f0c7e1a-3b2d-4c1e-9a8f-2d6b1c0e4f11",
    "lot": {"code": "HK-CAR-01", "name": "Bãi ô tô Lý Thái Tổ", "address": "Lý Thái Tổ, phường Hoàn Kiếm, Hà Nội"},
    "plate": "30A-123.45",
    "vehicle_class": "car_small",
    "vehicle_class_vi": "Ô tô đến 9 chỗ",
    "vehicle_class_en": "Car up to 9 seats",
    "status": "closed",
    "payment_status": "paid",
    "review_status": "none",
    "entry_at": "2026-12-01T03:18:23+00:00",
    "entry_at_local": "01/12/2026 10:18",
    "exit_at": "2026-12-01T06:30:02+00:00",
    "exit_at_local": "01/12/2026 13:30",
    "entry": {
        "captured_at": "2026-12-01T03:18:23+00:00",
        "captured_at_local": "01/12/2026 10:18",
        "lane": "E1",
        "plate_read": "30A-123.45",
        "confidence": 0.97,
        "offline_action": None,
        "has_crop": True,
    },
    "exit": None,
    "crops": {"entry": "/v1/sessions/5f0c7e1a-3b2d-4c1e-9a8f-2d6b1c0e4f11/crops/entry", "exit": None},
    "stay_minutes": 191,
    "stay_text_vi": "3 giờ 11 phút",
    "final": True,
    "total_vnd": 120000,
    "tariff": {"tariff_id": "hanoi-44-2017", "version": "1"},
    "lines": [
        {
            "name_vi": "Giờ thứ 1–2",
            "name_en": "hours 1–2",
            "quantity": 2,
            "unit_vi": "giờ",
            "unit_en": "hour",
            "unit_price_vnd": 25000,
            "amount_vnd": 50000,
            "period_start": "2026-12-01T10:18:23+07:00",
            "period_end": "2026-12-01T12:18:23+07:00",
            "rule": "car-small-urban/step",
        },
        {
            "name_vi": "Giờ thứ 3–4",
            "name_en": "hours 3–4",
            "quantity": 2,
            "unit_vi": "giờ",
            "unit_en": "hour",
            "unit_price_vnd": 35000,
            "amount_vnd": 70000,
            "period_start": "2026-12-01T12:18:23+07:00",
            "period_end": "2026-12-01T13:30:02+07:00",
            "rule": "car-small-urban/step",
        },
    ],
}
operator_router = APIRouter(prefix="/v1/operator", tags=["operator: drivers"])


def _vehicle_out(v: DriverVehicle) -> S.VehicleOut:
    return S.VehicleOut(
        id=v.id,
        plate=v.plate,
        plate_display=service.display_plate(v.plate, v.vehicle_class),
        vehicle_class=v.vehicle_class,
        verified_by=v.verified_by,
        history_from=v.history_from,
    )


def _claim_out(c: VehicleClaim) -> S.ClaimOut:
    return S.ClaimOut(
        id=c.id,
        plate=c.plate,
        plate_display=service.display_plate(c.plate, c.vehicle_class),
        vehicle_class=c.vehicle_class,
        status=c.status,
        note=c.note,
        decision_reason=c.decision_reason,
        created_at=c.created_at,
        decided_at=c.decided_at,
    )


def _driver_out(d: Any) -> S.DriverOut:
    return S.DriverOut(
        id=d.id, email=d.email, full_name=d.full_name, phone=d.phone, deferred_limit_vnd=d.deferred_limit_vnd
    )


def _method_out(m: PaymentMethod) -> S.MethodOut:
    return S.MethodOut(
        id=m.id, provider=m.provider, kind=m.kind, label=m.label, status=m.status, token_last4=m.token[-4:]
    )


def _pass_out(p: MonthlyPass) -> S.PassOut:
    return S.PassOut(
        id=p.id,
        plate=p.plate,
        lot_id=p.lot_id,
        vehicle_class=p.vehicle_class,
        band=p.band,
        valid_from=p.valid_from,
        valid_until=p.valid_until,
        price_vnd=p.price_vnd,
        payment_id=p.payment_id,
    )


def _debt_out(d: Debt) -> S.DebtOut:
    return S.DebtOut(
        id=d.id,
        session_id=d.session_id,
        plate=d.plate,
        amount_vnd=d.amount_vnd,
        reason=d.reason,
        status=d.status,
        created_at=d.created_at,
    )


@router.post("/register", response_model=S.DriverOut, status_code=201)
async def register(body: S.RegisterIn, db: DB) -> S.DriverOut:
    d = await service.register(db, email=body.email, password=body.password, full_name=body.full_name, phone=body.phone)
    return _driver_out(d)


@router.post("/login", response_model=S.TokenOut)
async def login(body: S.LoginIn, db: DB) -> S.TokenOut:
    token, expires = await service.login(db, email=body.email, password=body.password)
    return S.TokenOut(access_token=token, expires_at=expires)


@router.get("/me", response_model=S.DriverOut)
async def me(driver: CurrentDriver) -> S.DriverOut:
    return _driver_out(driver)


@router.post(
    "/oidc/token",
    response_model=S.OidcSignInOut,
    summary="Sign in with an ID token of the city's identity provider (OpenID Connect)",
    responses={401: {"description": "The ID token is not valid (signature, issuer, audience, expiry)"}},
)
async def oidc_sign_in(body: S.OidcSignInIn, db: DB) -> S.OidcSignInOut:
    identity = await verify_id_token(body.id_token, get_driver_settings())
    driver, linked = await service.sign_in_with_identity(db, identity)
    token, expires = await issue_token(db, driver.id, get_payment_settings().driver_token_ttl_days)
    return S.OidcSignInOut(
        access_token=token, expires_at=expires, driver=_driver_out(driver), vehicles=[_vehicle_out(v) for v in linked]
    )


@router.post(
    "/me/vehicles",
    response_model=S.VehicleOut | S.ClaimOut,
    status_code=201,
    summary="Link a plate: linked at once when proven, else a claim the operator reviews (202)",
    responses={202: {"model": S.ClaimOut, "description": "Not proven: a claim waits for the operator"}},
)
async def add_vehicle(
    body: S.VehicleIn, db: DB, driver: CurrentDriver, response: Response
) -> S.VehicleOut | S.ClaimOut:
    v = await service.add_vehicle(db, driver, plate=body.plate, vehicle_class=body.vehicle_class, note=body.note)
    if isinstance(v, VehicleClaim):
        response.status_code = 202
        return _claim_out(v)
    return _vehicle_out(v)


@router.get("/me/vehicles", response_model=list[S.VehicleOut])
async def vehicles(db: DB, driver: CurrentDriver) -> list[S.VehicleOut]:
    rows = await drivers_repo.vehicles(db, driver.id)
    return [_vehicle_out(v) for v in rows]


@router.get("/me/vehicle-claims", response_model=list[S.ClaimOut], summary="My plate claims and their decisions")
async def my_claims(db: DB, driver: CurrentDriver) -> list[S.ClaimOut]:
    return [_claim_out(c) for c in await service.claims_of(db, driver)]


@router.delete("/me/vehicles/{vehicle_id}", status_code=204)
async def remove_vehicle(vehicle_id: uuid.UUID, db: DB, driver: CurrentDriver) -> None:
    await service.remove_vehicle(db, driver, vehicle_id)


@router.post(
    "/me/payment-methods",
    response_model=S.MethodOut,
    status_code=201,
    summary="Link a bank account or e-wallet token held at the payment provider",
)
async def link_method(body: S.MethodIn, db: DB, driver: CurrentDriver) -> S.MethodOut:
    m = await service.link_method(db, driver, provider_token=body.provider_token, kind=body.kind, label=body.label)
    return _method_out(m)


@router.get("/me/payment-methods", response_model=list[S.MethodOut])
async def methods(db: DB, driver: CurrentDriver) -> list[S.MethodOut]:
    rows = await drivers_repo.payment_methods(db, driver.id)
    return [_method_out(m) for m in rows]


@router.delete("/me/payment-methods/{method_id}", status_code=204)
async def unlink_method(method_id: uuid.UUID, db: DB, driver: CurrentDriver) -> None:
    await service.unlink_method(db, driver, method_id)


@router.post("/me/passes", response_model=S.PassOut, status_code=201, summary="Buy a monthly pass")
async def buy_pass(
    body: S.PassIn,
    db: DB,
    state: State,
    driver: CurrentDriver,
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
) -> S.PassOut:
    p = await service.buy_pass(
        db,
        driver,
        plate=body.plate,
        lot_id=body.lot_id,
        start=body.start,
        tariffs=state.tariffs,
        idempotency_key=idempotency_key,
    )
    return _pass_out(p)


@router.get("/me/passes", response_model=list[S.PassOut])
async def passes(db: DB, driver: CurrentDriver) -> list[S.PassOut]:
    rows = await drivers_repo.passes(db, driver.id)
    return [_pass_out(p) for p in rows]


@router.get("/me/sessions")
async def sessions(db: DB, driver: CurrentDriver) -> list[dict[str, Any]]:
    return [
        {
            "id": str(s.id),
            "lot_id": str(s.lot_id),
            "plate": s.plate,
            "plate_display": service.display_plate(s.plate, s.vehicle_class) if s.plate else None,
            "status": s.status,
            "entry_at": s.entry_at.isoformat() if s.entry_at else None,
            "exit_at": s.exit_at.isoformat() if s.exit_at else None,
            "fee_vnd": s.fee_vnd,
            "payment_status": s.payment_status,
        }
        for s in await service.sessions_of(db, driver)
    ]


@router.get("/me/debts", response_model=list[S.DebtOut])
async def debts(db: DB, driver: CurrentDriver) -> list[S.DebtOut]:
    return [_debt_out(d) for d in await service.debts_of(db, driver)]


@router.post("/me/debts/{debt_id}/pay", response_model=S.PayDebtOut)
async def pay_debt(debt_id: uuid.UUID, body: S.PayDebtIn, db: DB, driver: CurrentDriver) -> S.PayDebtOut:
    debt = next((d for d in await service.debts_of(db, driver) if d.id == debt_id), None)
    if debt is None:
        raise AppError("debt_not_found", "No such debt on this account.", 404)
    if debt.status != "open":
        return S.PayDebtOut(debt_id=debt.id, status=debt.status, payment_id=debt.settled_payment_id)
    if body.method == "linked":
        p = await payments.pay_debt_linked(db, debt, driver_id=driver.id)
        status = {"confirmed": "paid", "pending": "charging", "failed": "declined"}.get(p.status, p.status)
        return S.PayDebtOut(debt_id=debt.id, status=status, payment_id=p.id)
    intent = await payments.create_intent(
        db, amount_vnd=debt.amount_vnd, purpose="debt", session_id=None, lane_id=None, debt_id=debt.id
    )
    return S.PayDebtOut(debt_id=debt.id, status="awaiting_qr", payment=payments.intent_view(intent))


@sessions_router.get(
    "/v1/sessions/{session_id}/fee",
    summary="Fee proof: entry/exit, reads and confidences, tariff and version, each line of the calculation",
    description="Only for the session's driver (their bearer token, from the proven start of the plate's holding), "
    "a lane of the session's lot (lane credential) or staff of the session's lot (staff token or console session).",
    responses={
        200: {"content": {"application/json": {"example": FEE_PROOF_EXAMPLE}}},
        401: {"description": "No credential"},
        403: {"description": "A lane of another lot"},
        404: {"description": "No such session, or not one this driver or staff member may see"},
    },
)
async def session_fee(
    session_id: uuid.UUID,
    db: DB,
    state: State,
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    sess = await proof.load_session(db, session_id)
    staff = await authenticate_staff(request, db, state)
    await proof.authorize_view(db, state.lanes, sess, authorization=authorization, staff=staff)
    return await proof.fee_proof(db, state.tariffs, sess)


@sessions_router.get(
    "/v1/sessions/{session_id}/crops/{side}",
    summary="The camera crop of the session's entry or exit (same access as the fee proof)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def session_crop(
    session_id: uuid.UUID,
    side: Annotated[str, Path(pattern="^(entry|exit)$")],
    db: DB,
    state: State,
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    sess = await proof.load_session(db, session_id)
    staff = await authenticate_staff(request, db, state)
    await proof.authorize_view(db, state.lanes, sess, authorization=authorization, staff=staff)
    data, content_type = await proof.crop(db, sess, side)
    return Response(data, media_type=content_type, headers={"Cache-Control": "private, max-age=300"})


@operator_router.get("/vehicle-claims", response_model=list[S.ClaimOut], summary="Plate claims waiting for review")
async def pending_claims(db: DB, staff: Desk) -> list[S.ClaimOut]:
    claims = await service.pending_claims(db, lot_ids=staff.lot_ids, unseen_plates=staff.role == "admin")
    return [_claim_out(c) for c in claims]


@operator_router.post(
    "/vehicle-claims/{claim_id}/decision",
    response_model=S.ClaimOut,
    summary="Approve a plate claim (having seen the registration papers) or reject it with a reason",
    description="A claim is reviewed by the operators in whose lots the plate has parked; a plate never seen at "
    "any lot, by an admin.",
)
async def decide_claim(claim_id: uuid.UUID, body: S.ClaimDecisionIn, db: DB, staff: Desk) -> S.ClaimOut:
    c = await service.decide_claim(
        db,
        claim_id,
        approve=body.approve,
        actor=staff.actor,
        reason=body.reason,
        history_from=body.history_from,
        lot_ids=staff.lot_ids,
        unseen_plates=staff.role == "admin",
    )
    return _claim_out(c)
