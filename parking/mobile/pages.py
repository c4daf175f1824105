"""The driver's mobile pages (``/m``): server-rendered, Vietnamese first, phone-sized.

Nearby lots with live free spaces and prices, a lot's detail (with the forecast and a rating / problem-report
form), sign-in through the city's identity provider (authorization code), "my current session" with the fee
so far and its proof, receipts, disputes. The pages call the same services as the API. The sign-in cookie is
HttpOnly and SameSite=Lax, and each form carries a token derived from it (a cross-site page can neither read
nor forge it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Cookie, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select

from parking.disputes import service as disputes
from parking.drivers import proof
from parking.drivers import service as drivers
from parking.drivers.auth import driver_for_token, issue_token
from parking.drivers.oidc import authorization_endpoint, exchange_code, verify_id_token
from parking.drivers.settings import get_driver_settings
from parking.drivers.wording import VEHICLE_CLASS_NAMES, vehicle_class_vi
from parking.forecast import service as forecast_service
from parking.kit.deps import DB, State
from parking.kit.errors import AppError
from parking.models import Driver, DriverVehicle, Invoice, Lot
from parking.payments.settings import get_payment_settings
from parking.places import service as places

router = APIRouter(prefix="/m", include_in_schema=False)
COOKIE = "drv_session"
STATE_COOKIE = "oidc_state"
HOME = (21.028511, 105.854164)  # Hoàn Kiếm, when the phone does not share its position

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"]))


def vnd(amount: int | None) -> str:
    return "—" if amount is None else f"{amount:,}".replace(",", ".") + " đ"


_env.globals.update(vnd=vnd, pct=lambda v: f"{round(float(v) * 100)} %")

STATUS_VI = {"open": "Đang xem xét", "refunded": "Đã hoàn tiền", "rejected": "Bị từ chối"}


def render(template: str, **ctx: Any) -> HTMLResponse:
    return HTMLResponse(_env.get_template(template).render(**ctx))


def csrf_for(token: str) -> str:
    return hashlib.sha256(f"csrf:{token}".encode()).hexdigest()[:32]


async def signed_in(db: DB, token: str | None) -> Driver | None:
    if not token:
        return None
    try:
        return await driver_for_token(db, token)
    except AppError:
        return None


def _check_csrf(token: str | None, csrf: str) -> None:
    if not token or not hmac.compare_digest(csrf_for(token), csrf):
        raise AppError("csrf_failed", "The form has expired; open the page again.", 403)


@router.get("", response_class=HTMLResponse)
async def home(
    db: DB,
    state: State,
    lat: Annotated[float, Query(ge=-90, le=90)] = HOME[0],
    lon: Annotated[float, Query(ge=-180, le=180)] = HOME[1],
    vehicle_class: Annotated[str, Query(pattern="^(bicycle|motorbike|car_small|car_large)$")] = "motorbike",
    drv_session: Annotated[str | None, Cookie()] = None,
) -> HTMLResponse:
    radius = 3000
    found = await places.find_places(
        db, state.redis, state.tariffs, lat=lat, lon=lon, radius_m=radius, vehicle_class=vehicle_class, limit=20
    )
    # Lots with free spaces first, then by distance (the nearest full lot is no help to a driver).
    ordered = sorted(found["places"], key=lambda p: (p["availability"][vehicle_class]["full"], p["distance_m"]))
    return render(
        "home.html",
        title="Tìm chỗ gửi xe",
        signed_in=await signed_in(db, drv_session) is not None,
        places=ordered,
        vehicle_class=vehicle_class,
        classes=[(k, v[0]) for k, v in VEHICLE_CLASS_NAMES.items()],
        lat=lat,
        lon=lon,
        radius=radius,
        at_local=proof.local_text(datetime.now(UTC)),
    )


async def _lot_page(db: DB, state: State, code: str, token: str | None, message: str = "") -> HTMLResponse:
    lot = (await db.execute(select(Lot).where(Lot.code == code))).scalar()
    if lot is None:
        raise AppError("lot_not_found", f"No lot {code}.", 404)
    found = await places.find_places(
        db,
        state.redis,
        state.tariffs,
        lat=float(lot.latitude),
        lon=float(lot.longitude),
        radius_m=1,
        vehicle_class=None,
        limit=50,
    )
    place = next(p for p in found["places"] if p["code"] == code)
    forecasts = {}
    for vc in place["availability"]:
        forecasts[vc] = await forecast_service.forecast(db, state.redis, code, vc)
    driver = await signed_in(db, token)
    return render(
        "lot.html",
        title=place["name"],
        p=place,
        forecasts=forecasts,
        signed_in=driver is not None,
        csrf=csrf_for(token) if driver and token else "",
        message=message,
    )


@router.get("/lots/{code}", response_class=HTMLResponse)
async def lot_page(
    code: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_.-]{1,32}$")],
    db: DB,
    state: State,
    drv_session: Annotated[str | None, Cookie()] = None,
) -> HTMLResponse:
    return await _lot_page(db, state, code, drv_session)


@router.post("/lots/{code}/report", response_class=HTMLResponse)
async def lot_report(
    code: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_.-]{1,32}$")],
    db: DB,
    state: State,
    csrf: Annotated[str, Form()],
    kind: Annotated[str, Form(pattern="^(rating|cash_requested|shown_free_but_full|barrier_broken|other)$")],
    stars: Annotated[str, Form()] = "",
    comment: Annotated[str, Form(max_length=2000, pattern=r"^[^\x00]*$")] = "",
    drv_session: Annotated[str | None, Cookie()] = None,
) -> HTMLResponse:
    _check_csrf(drv_session, csrf)
    driver = await signed_in(db, drv_session)
    if driver is None:
        raise AppError("unauthorized", "Đăng nhập để gửi đánh giá hoặc báo sự cố.", 401)
    n = int(stars) if stars.isdigit() and kind == "rating" else None
    await disputes.report(db, driver, lot_code=code, kind=kind, stars=n, comment=comment)
    return await _lot_page(db, state, code, drv_session, "Cảm ơn bạn, bãi xe đã nhận được phản ánh.")


@router.get("/login")
async def login(request: Request) -> RedirectResponse:
    s = get_driver_settings()
    st, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params = {
        "client_id": s.oidc_audience,
        "redirect_uri": str(request.url_for("oidc_callback")),
        "response_type": "code",
        "scope": "openid",
        "state": st,
        "nonce": nonce,
    }
    r = RedirectResponse(f"{await authorization_endpoint(s)}?{urlencode(params)}", status_code=302)
    r.set_cookie(STATE_COOKIE, f"{st}.{nonce}", max_age=600, httponly=True, samesite="lax")
    return r


@router.get("/callback", name="oidc_callback")
async def callback(
    request: Request,
    db: DB,
    code: str,
    state: str,
    oidc_state: Annotated[str | None, Cookie()] = None,
) -> RedirectResponse:
    expected_state, _, nonce = (oidc_state or "").partition(".")
    if not expected_state or not hmac.compare_digest(expected_state, state):
        raise AppError("oidc_state_mismatch", "The sign-in did not start here; try again.", 400)
    s = get_driver_settings()
    id_token = await exchange_code(s, code=code, redirect_uri=str(request.url_for("oidc_callback")))
    identity = await verify_id_token(id_token, s)
    if identity.nonce != nonce:
        raise AppError("oidc_nonce_mismatch", "The identity token was not issued for this sign-in.", 400)
    driver, _ = await drivers.sign_in_with_identity(db, identity)
    token, expires = await issue_token(db, driver.id, get_payment_settings().driver_token_ttl_days)
    r = RedirectResponse("/m/me", status_code=302)
    r.set_cookie(COOKIE, token, expires=expires, httponly=True, samesite="lax", secure=request.url.scheme == "https")
    r.delete_cookie(STATE_COOKIE)
    return r


@router.get("/me", response_class=HTMLResponse, response_model=None)
async def me(request: Request, db: DB, state: State, drv_session: Annotated[str | None, Cookie()] = None) -> Response:
    driver = await signed_in(db, drv_session)
    if driver is None:
        return RedirectResponse("/m/login", status_code=302)
    sessions = await drivers.sessions_of(db, driver, limit=30)
    current, recent = [], []
    lots = {lot.id: lot for lot in (await db.execute(select(Lot))).scalars()} if sessions else {}
    for s in sessions:
        if s.status == "open" and s.entry_at is not None:
            current.append(await proof.fee_proof(db, state.tariffs, s))
        elif s.status == "closed":
            recent.append(
                {
                    "id": str(s.id),
                    "plate": drivers.display_plate(s.plate, s.vehicle_class) if s.plate else "—",
                    "lot": lots[s.lot_id].name if s.lot_id in lots else "",
                    "exit_local": proof.local_text(s.exit_at),
                    "fee_vnd": s.fee_vnd,
                }
            )
    vehicles = [
        {"plate": drivers.display_plate(v.plate, v.vehicle_class), "class_vi": vehicle_class_vi(v.vehicle_class)}
        for v in (await db.execute(select(DriverVehicle).where(DriverVehicle.driver_id == driver.id))).scalars()
    ]
    from parking.invoices.service import lookup_url

    base = str(request.base_url).rstrip("/")
    receipts = [
        {"mccqt": i.mccqt, "total_vnd": i.total_vnd, "url": lookup_url(base, i.mccqt)}
        for i in (
            await db.execute(
                # The driver's own invoices, and those of the stays of their vehicles (a VietQR payment
                # does not know the driver).
                select(Invoice)
                .where((Invoice.driver_id == driver.id) | Invoice.session_id.in_([x.id for x in sessions]))
                .order_by(Invoice.issued_at.desc())
                .limit(20)
            )
        ).scalars()
    ]
    my_disputes = [
        await disputes.dispute_view(db, d, base_url=base, with_evidence=False)
        for d in await disputes.disputes_of(db, driver)
    ]
    return render(
        "me.html",
        title="Của tôi",
        signed_in=True,
        name=driver.full_name or "bạn",
        vehicles=vehicles,
        current=current,
        recent=recent,
        receipts=receipts,
        disputes=my_disputes,
        status_vi=STATUS_VI,
    )


async def _session_page(db: DB, state: State, session_id: uuid.UUID, token: str | None, message: str = "") -> Response:
    driver = await signed_in(db, token)
    if driver is None or token is None:
        return RedirectResponse("/m/login", status_code=302)
    if not await drivers.owns_session(db, driver, session_id):
        raise AppError("session_not_found", "No such session on this account.", 404)
    s = await proof.load_session(db, session_id)
    p = await proof.fee_proof(db, state.tariffs, s)
    return render("session.html", title="Cách tính phí", signed_in=True, p=p, csrf=csrf_for(token), message=message)


@router.get("/sessions/{session_id}", response_class=HTMLResponse, response_model=None)
async def session_page(
    session_id: uuid.UUID, db: DB, state: State, drv_session: Annotated[str | None, Cookie()] = None
) -> Response:
    return await _session_page(db, state, session_id, drv_session)


@router.get("/sessions/{session_id}/crops/{side}", response_model=None)
async def session_crop(
    session_id: uuid.UUID, side: str, db: DB, drv_session: Annotated[str | None, Cookie()] = None
) -> Response:
    driver = await signed_in(db, drv_session)
    if driver is None or side not in ("entry", "exit") or not await drivers.owns_session(db, driver, session_id):
        raise AppError("not_found", "No such image.", 404)
    data, content_type = await proof.crop(db, await proof.load_session(db, session_id), side)
    return Response(data, media_type=content_type, headers={"Cache-Control": "private, max-age=300"})


@router.post("/sessions/{session_id}/dispute", response_class=HTMLResponse, response_model=None)
async def session_dispute(
    session_id: uuid.UUID,
    db: DB,
    state: State,
    csrf: Annotated[str, Form()],
    kind: Annotated[str, Form(pattern="^(wrong_plate|wrong_time|charged_twice|other)$")],
    reason: Annotated[str, Form(min_length=3, max_length=2000, pattern=r"^[^\x00]*$")],
    drv_session: Annotated[str | None, Cookie()] = None,
) -> Response:
    _check_csrf(drv_session, csrf)
    driver = await signed_in(db, drv_session)
    if driver is None:
        return RedirectResponse("/m/login", status_code=302)
    await disputes.file_dispute(db, state.tariffs, driver, session_id=session_id, kind=kind, reason=reason)
    return await _session_page(
        db, state, session_id, drv_session, "Đã gửi khiếu nại; bãi xe sẽ trả lời tại mục Của tôi."
    )
