"""Console pages (``/console``): thin routes that render templates from the console service."""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote as urlquote

import orjson
from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sse_starlette.sse import EventSourceResponse

from parking.console import exports, service
from parking.console import repository as repo
from parking.console.alerts import STREAM as ALERT_STREAM
from parking.console.i18n import LOCALES, pick
from parking.console.templating import render
from parking.invoices import service as invoice_service
from parking.kit.deps import DB, AppState, State, get_state
from parking.kit.errors import AppError
from parking.kit.redis_keys import OCCUPANCY_CHANNEL as STREAM_CHANNEL
from parking.kit.uow import after_commit
from parking.occupancy.service import apply_deltas
from parking.staff import service as staff_service
from parking.staff.deps import check, set_session_cookie
from parking.staff.endpoints import client_ip
from parking.staff.service import Staff
from vnplate import normalize

router = APIRouter(prefix="/console", include_in_schema=False)
STATIC = Path(__file__).parent / "static"
LANG_COOKIE = "parking_lang"
LOGIN_CSRF_COOKIE = "parking_login_csrf"
HANOI = service.HANOI


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def console_dependency(*roles: str, read_only_ok: bool = False) -> Callable[..., Awaitable[Staff]]:
    """Like ``staff_dependency``, but a visitor without a session is sent to the login page."""

    async def dependency(request: Request, db: DB, state: Annotated[AppState, Depends(get_state)]) -> Staff:
        try:
            return await check(request, db, state, roles, write=None, read_only_ok=read_only_ok)
        except AppError as exc:
            if exc.status == 401:
                raise LoginRequired(request.url.path) from None
            raise

    return dependency


Viewer = Annotated[Staff, Depends(console_dependency())]
Leaving = Annotated[Staff, Depends(console_dependency(read_only_ok=True))]
Operator = Annotated[Staff, Depends(console_dependency("operator", "supervisor", "finance"))]
Supervisor = Annotated[Staff, Depends(console_dependency("supervisor"))]
Finance = Annotated[Staff, Depends(console_dependency("finance", "auditor"))]
# Drivers' disputes and problem reports: the lot desk (as on /v1/operator/disputes); the auditor reads them.
DeskReader = Annotated[Staff, Depends(console_dependency("operator", "supervisor", "auditor"))]
Desk = Annotated[Staff, Depends(console_dependency("operator", "supervisor"))]


def _locale(request: Request, staff: Staff | None = None) -> str:
    return pick(request.cookies.get(LANG_COOKIE), staff.locale if staff else None)


def page(request: Request, name: str, staff: Staff | None, **ctx: Any) -> HTMLResponse:
    return HTMLResponse(
        render(_locale(request, staff), name, request=request, staff=staff, path=request.url.path, **ctx)
    )


def _back(request: Request, fallback: str) -> str:
    ref = request.headers.get("referer", "")
    host = f"{request.url.scheme}://{request.url.netloc}"
    return ref if ref.startswith(host + "/console") else fallback


# ---------------------------------------------------------------- login, language


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/console", error: str | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    safe_next = next if next.startswith("/console") else "/console"
    resp = page(request, "login.html", None, csrf=token, next=safe_next, error=error)
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/console/login", max_age=3600)
    return resp


@router.post("/login")
async def login_submit(
    request: Request,
    db: DB,
    state: State,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/console",
) -> Response:
    # Login CSRF: the form carries the token of a SameSite=Strict cookie set with the form (double submit).
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, csrf_token):
        return RedirectResponse("/console/login?error=stale", status_code=303)
    try:
        _user, raw, _csrf = await staff_service.login(
            db,
            state.redis,
            state.settings,
            email=email,
            password=password,
            ip=client_ip(request),
            now=staff_service.now_utc(),
        )
    except AppError as exc:
        # The request's unit of work commits on return: the failed attempt stays audited.
        code = "throttled" if exc.status == 429 else "invalid"
        return RedirectResponse(f"/console/login?error={code}&next={urlquote(next)}", status_code=303)
    resp = RedirectResponse(next if next.startswith("/console") else "/console", status_code=303)
    set_session_cookie(resp, request, state, raw)
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return resp


@router.post("/logout")
async def logout(request: Request, db: DB, state: State, staff: Leaving) -> Response:
    from parking.staff.deps import SESSION_COOKIE, session_token

    raw = session_token(request, state.settings.console_session_ttl_s)
    if raw:
        await staff_service.logout(db, raw)
    resp = RedirectResponse("/console/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/lang/{locale}")
async def set_language(locale: str, request: Request) -> Response:
    if locale not in LOCALES:
        raise AppError("unknown_locale", f"Language must be one of {', '.join(LOCALES)}.", 404)
    resp = RedirectResponse(_back(request, "/console"), status_code=303)
    resp.set_cookie(LANG_COOKIE, locale, max_age=365 * 86400, samesite="lax", path="/")
    return resp


# ---------------------------------------------------------------- operator console


@router.get("", response_class=HTMLResponse)
async def dashboard(request: Request, db: DB, state: State, staff: Viewer) -> HTMLResponse:
    now = datetime.now(UTC)
    lots = await repo.lots(db, staff.lot_ids)
    occ = await service.occupancy(db, state.redis, staff)
    chart = await service.day_chart(db, staff, now)
    return page(
        request,
        "dashboard.html",
        staff,
        lots=lots,
        occupancy=occ,
        points=service.map_points(lots),
        fullness={o["lot_id"]: _fullness(o) for o in occ},
        chart=chart,
        chart_spec={
            "type": "line",
            "labels": chart["labels"],
            "datasets": [{"label": code, "data": values} for code, values in chart["series"].items()],
        },
        lanes=await service.lane_health(db, state.redis, staff, now),
        feed=await service.feed(db, staff, now),
        alerts=await repo.alerts(db, staff.operator_id, staff.lot_ids, open_only=True),
    )


def _fullness(lot: dict[str, Any]) -> float:
    cap = sum(c["capacity"] for c in lot["classes"].values())
    occ = sum(c["occupied"] for c in lot["classes"].values())
    return occ / cap if cap else 0.0


@router.get("/fragments/lanes", response_class=HTMLResponse)
async def lanes_fragment(request: Request, db: DB, state: State, staff: Viewer) -> HTMLResponse:
    lanes = await service.lane_health(db, state.redis, staff, datetime.now(UTC))
    return page(request, "_lanes.html", staff, lanes=lanes)


@router.get("/stream")
async def stream(request: Request, db: DB, state: State, staff: Viewer) -> EventSourceResponse:
    """Server-sent events for this staff member's lots: occupancy cells and the live event feed, as HTML."""
    await db.rollback()  # the stream may stay open for hours: no connection held
    locale = _locale(request, staff)
    lots = {str(lot_id) for lot_id in staff.lot_ids}
    channels = [STREAM_CHANNEL, ALERT_STREAM, *(f"lot:{lot_id}:events" for lot_id in staff.lot_ids)]

    async def events() -> AsyncIterator[dict[str, str]]:
        pubsub = state.redis.pubsub()
        await pubsub.subscribe(*channels)
        try:
            yield {"event": "hello", "data": "ok"}
            while not await request.is_disconnected():
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is None:
                    await asyncio.sleep(0)
                    continue
                body = orjson.loads(msg["data"])
                if msg["channel"] == STREAM_CHANNEL:
                    if body.get("lot_id") not in lots:
                        continue
                    async with state.sessionmaker() as s:
                        [snap] = [
                            o for o in await service.occupancy(s, state.redis, staff) if o["lot_id"] == body["lot_id"]
                        ]
                    c = snap["classes"].get(body["vehicle_class"])
                    if c is None:
                        continue
                    html = render(locale, "_occ_cell.html", c=c)
                    yield {"event": f"occ-{body['lot_id']}-{body['vehicle_class']}", "data": html}
                elif msg["channel"] == ALERT_STREAM:
                    # New alerts of this operator (and, when tied to a lot, only of the lots this person sees).
                    if body.get("operator_id") != str(staff.operator_id) or (
                        body.get("lot_id") and body["lot_id"] not in lots
                    ):
                        continue
                    yield {"event": "alert", "data": render(locale, "_alert_item.html", a=body)}
                else:
                    async with state.sessionmaker() as s:
                        item = await service.feed_event(s, staff, uuid.UUID(body["event_id"]))
                    if item is not None:
                        yield {"event": "feed", "data": render(locale, "_feed_item.html", e=item)}
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()

    return EventSourceResponse(events(), ping=15)


@router.get("/events/{event_id}/image")
async def event_image(event_id: uuid.UUID, db: DB, staff: Viewer) -> Response:
    data, content_type = await service.event_image(db, staff, event_id)
    return Response(data, media_type=content_type, headers={"Cache-Control": "private, max-age=3600"})


@router.post("/lanes/{lane_id}/override")
async def override(
    lane_id: uuid.UUID,
    request: Request,
    db: DB,
    state: State,
    staff: Supervisor,
    reason: Annotated[str, Form()] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    data = await photo.read(state.settings.max_image_bytes + 1) if photo is not None and photo.filename else None
    if data is not None and len(data) > state.settings.max_image_bytes:
        raise AppError("image_too_large", "The photo is too large.", 413)
    row = await service.override(
        db, staff, lane_id, reason=reason, photo=data, photo_type=photo.content_type if photo and data else None
    )
    if request.headers.get("hx-request"):
        return page(request, "_notice.html", staff, ok=True, message="override_sent", ref=str(row.id))
    return RedirectResponse(_back(request, "/console"), status_code=303)


# ---------------------------------------------------------------- review queue


def _local_time(value: str | None) -> datetime:
    """A console time field: an ISO time with its offset, or the form's ``datetime-local`` value, which the form
    labels as Hanoi time (the lots' zone), so it is read in that zone, not guessed."""
    try:
        t = datetime.fromisoformat((value or "").strip())
    except ValueError:
        raise AppError("invalid_time", "Times are YYYY-MM-DDTHH:MM (Hanoi time).", 422) from None
    return t if t.tzinfo is not None else t.replace(tzinfo=HANOI)


@router.get("/review", response_class=HTMLResponse)
async def review(request: Request, db: DB, staff: Viewer) -> HTMLResponse:
    return page(request, "review.html", staff, queue=await service.review_queue(db, staff))


@router.post("/review/{session_id}")
async def review_action(
    session_id: uuid.UUID,
    request: Request,
    db: DB,
    state: State,
    staff: Operator,
    action: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    plate: Annotated[str | None, Form()] = None,
    fee_vnd: Annotated[str | None, Form()] = None,
    target: Annotated[str | None, Form()] = None,
    first_exit_at: Annotated[str | None, Form()] = None,
    second_entry_at: Annotated[str | None, Form()] = None,
) -> Response:
    fee = int(fee_vnd) if fee_vnd and fee_vnd.strip().isdigit() else None
    if action == "split":
        out = await service.split(
            db,
            staff,
            state.tariffs,
            session_id,
            first_exit_at=_local_time(first_exit_at),
            second_entry_at=_local_time(second_entry_at),
            reason=reason,
        )
    elif action == "merge":
        try:
            target_id = uuid.UUID(target or "")
        except ValueError:
            raise AppError("target_required", "Choose the stay this exit belongs to.", 422) from None
        out = await service.merge(db, staff, state.tariffs, session_id, target_id, reason)
        deltas = out.pop("occupancy")
        after_commit(db, "console.merge_occupancy", lambda: apply_deltas(state.redis, deltas))  # like the gate
    else:
        out = await service.review_action(
            db, staff, state.tariffs, session_id, action=action, reason=reason, plate=plate, fee_vnd=fee
        )
    if request.headers.get("hx-request"):
        return page(request, "_notice.html", staff, ok=True, message="review_done", ref=out["session_id"], out=out)
    return RedirectResponse("/console/review", status_code=303)


# ---------------------------------------------------------------- drivers' disputes and problem reports


@router.get("/disputes", response_class=HTMLResponse)
async def disputes(
    request: Request,
    db: DB,
    staff: DeskReader,
    status: Annotated[str, Query(pattern="^(open|refunded|rejected)$")] = "open",
) -> HTMLResponse:
    base = str(request.base_url).rstrip("/")
    found = await service.disputes(db, staff, status=status, base_url=base)
    return page(request, "disputes.html", staff, disputes=found, status=status)


@router.post("/disputes/{dispute_id}/decision")
async def dispute_decision(
    dispute_id: uuid.UUID,
    request: Request,
    db: DB,
    staff: Desk,
    decision: Annotated[str, Form(pattern="^(refund|reject)$")],
    reason: Annotated[str, Form(max_length=2000)] = "",
    amount_vnd: Annotated[str | None, Form()] = None,
) -> Response:
    amount = amount_vnd.strip() if amount_vnd else ""
    if amount and not amount.isdigit():
        raise AppError("invalid_amount", "A refund is a positive whole number of VND.", 422)
    out = await service.decide_dispute(
        db, staff, dispute_id, decision=decision, reason=reason, amount_vnd=int(amount) if amount else None
    )
    if request.headers.get("hx-request"):
        return page(request, "_notice.html", staff, ok=True, message=f"dispute_{out['status']}", ref=out["dispute_id"],
                    out=out)  # fmt: skip
    return RedirectResponse("/console/disputes", status_code=303)


@router.get("/reports", response_class=HTMLResponse)
async def reports(
    request: Request,
    db: DB,
    staff: DeskReader,
    status: Annotated[str, Query(pattern="^(new|acknowledged|closed|all)$")] = "new",
) -> HTMLResponse:
    found = await service.lot_reports(db, staff, status=None if status == "all" else status)
    return page(request, "reports.html", staff, status=status, **found)


@router.post("/reports/{report_id}/ack")
async def report_ack(
    report_id: uuid.UUID,
    request: Request,
    db: DB,
    staff: Desk,
    close: Annotated[bool, Form()] = False,
) -> Response:
    status = await service.acknowledge_report(db, staff, report_id, close=close)
    if request.headers.get("hx-request"):
        return page(request, "_notice.html", staff, ok=True, message=f"report_{status}", ref=str(report_id))
    return RedirectResponse("/console/reports", status_code=303)


# ---------------------------------------------------------------- alerts


@router.get("/alerts", response_class=HTMLResponse)
async def alerts(request: Request, db: DB, staff: Viewer, show: str = "open") -> HTMLResponse:
    rows = await repo.alerts(db, staff.operator_id, staff.lot_ids, open_only=show != "all")
    since = datetime.now(UTC) - timedelta(days=7)
    return page(
        request, "alerts.html", staff, alerts=rows, show=show, overrides=await repo.overrides(db, staff.lot_ids, since)
    )


@router.post("/alerts/{alert_id}/ack")
async def acknowledge(
    alert_id: uuid.UUID, request: Request, db: DB, staff: Operator, note: Annotated[str, Form()] = ""
) -> Response:
    await service.acknowledge(db, staff, alert_id, note)
    if request.headers.get("hx-request"):
        return page(request, "_notice.html", staff, ok=True, message="alert_acknowledged", ref=str(alert_id))
    return RedirectResponse("/console/alerts", status_code=303)


# ---------------------------------------------------------------- finance


def _period(start: str | None, end: str | None) -> tuple[date, date]:
    today = datetime.now(HANOI).date()
    try:
        d0 = date.fromisoformat(start) if start else today - timedelta(days=6)
        d1 = date.fromisoformat(end) if end else today
    except ValueError:
        raise AppError("invalid_date", "Dates are YYYY-MM-DD.", 422) from None
    if d1 < d0 or (d1 - d0).days > 366:
        raise AppError("invalid_period", "The period is at most a year, start before end.", 422)
    return d0, d1


def _bounds(d0: date, d1: date) -> tuple[datetime, datetime]:
    return (
        datetime(d0.year, d0.month, d0.day, tzinfo=HANOI),
        datetime(d1.year, d1.month, d1.day, tzinfo=HANOI) + timedelta(days=1),
    )


@router.get("/finance", response_class=HTMLResponse)
async def finance(
    request: Request, db: DB, staff: Finance, start: str | None = None, end: str | None = None
) -> HTMLResponse:
    d0, d1 = _period(start, end)
    rows = await repo.revenue(db, staff.lot_ids, *_bounds(d0, d1))
    report = exports.revenue_report(rows)
    spec = {
        "type": "bar",
        "labels": report["chart"]["days"],
        "datasets": [{"label": lot, "data": values} for lot, values in report["chart"]["per_lot"].items()],
    }
    overrides = await repo.overrides(db, staff.lot_ids, _bounds(d0, d1)[0])
    return page(
        request,
        "finance.html",
        staff,
        start=d0.isoformat(),
        end=d1.isoformat(),
        report=report,
        chart_spec=spec,
        overrides=[o for o in overrides if o[0].at < _bounds(d0, d1)[1]],
    )


@router.get("/finance/export.{fmt}")
async def finance_export(
    fmt: str, request: Request, db: DB, staff: Finance, start: str | None = None, end: str | None = None
) -> Response:
    d0, d1 = _period(start, end)
    rows = await repo.revenue(db, staff.lot_ids, *_bounds(d0, d1))
    name = f"doanh-thu_{d0.isoformat()}_{d1.isoformat()}"
    locale = _locale(request, staff)
    if fmt == "csv":
        return Response(
            exports.to_csv(rows, locale),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "xlsx":
        return Response(
            exports.to_xlsx(rows, locale),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    if fmt == "pdf":
        return Response(
            exports.to_pdf(rows, locale, d0, d1),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    raise AppError("unknown_format", "Export as csv, xlsx or pdf.", 404)


@router.get("/finance/invoices", response_class=HTMLResponse)
async def invoices(
    request: Request,
    db: DB,
    staff: Finance,
    code: str | None = None,
    plate: str | None = None,
    day: str | None = None,
    tax_code: str | None = None,
) -> HTMLResponse:
    d0 = d1 = None
    if day:
        try:
            d = date.fromisoformat(day)
        except ValueError:
            raise AppError("invalid_date", "Dates are YYYY-MM-DD.", 422) from None
        d0, d1 = _bounds(d, d)
    searched = any((code, plate, day, tax_code))
    rows = (
        await repo.invoices(
            db,
            staff.operator_id,
            staff.lot_ids,
            code=code,
            plate=normalize(plate) if plate else None,
            day_start=d0,
            day_end=d1,
            buyer_tax_code=tax_code,
        )
        if searched
        else []
    )
    base = str(request.base_url).rstrip("/")
    found = [{"inv": i, "url": invoice_service.lookup_url(base, i.mccqt)} for i in rows]
    return page(
        request,
        "invoices.html",
        staff,
        found=found,
        searched=searched,
        q={"code": code or "", "plate": plate or "", "day": day or "", "tax_code": tax_code or ""},
    )


def install(app: FastAPI) -> None:
    """Routes, static assets, and the login redirect of the console."""
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = f"/console/login?next={urlquote(exc.next_url)}"
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)


__all__ = ["Query", "csv", "install", "io"]
