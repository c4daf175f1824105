"""Every route of the app: who may call it. Undeclared routes fail; staff routes are tried without credentials,
with a lane's and a driver's credentials, with every role, and by another operator's admin on this operator's
resources (which must look like they do not exist, and never leak into lists)."""

from __future__ import annotations

import base64
import io
import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.app import create_app
from parking.console.alerts import raise_alert
from parking.models import (
    Discrepancy,
    Dispute,
    Driver,
    LotReport,
    ParkingSession,
    Payment,
    RefundProposal,
    StaffUser,
    VehicleClaim,
)
from parking.settings import Settings
from tests.factories import LotHandle, StaffHandle, event, make_lot, make_staff, random_car_plate
from tests.parking.staff.route_access import ALL_ROLES, ROUTES, Access


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (60, 20), "white").save(buf, "JPEG")
    return buf.getvalue()


TINY_JPEG = _jpeg()
_SKIP = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _app_routes() -> list[tuple[str, str]]:
    # Only the route table is read: the app is never started (its lifespan needs the database).
    app = create_app(
        Settings(
            mode="test",
            database_url="postgresql+asyncpg://unused/unused",
            redis_url="redis://unused",
            data_dir=Path(tempfile.mkdtemp(prefix="parking-routes-")),
        )
    )
    out = []
    for r in app.routes:
        # FastAPI wraps included routers; their effective routes carry the full path and methods.
        contexts = list(r.effective_route_contexts()) if hasattr(r, "effective_route_contexts") else [r]
        for c in contexts:
            path = getattr(c, "path", None)
            methods = getattr(c, "methods", None)
            if path is None or path in _SKIP:
                continue
            if methods is None:  # a mount (static assets): its files are public
                out.append(("GET", f"{path}/{{path}}"))
            else:
                out.extend((m, path) for m in sorted(set(methods) - {"HEAD"}))
    return sorted(set(out))


APP_ROUTES = _app_routes()
STAFF_ROUTES = [k for k in APP_ROUTES if ROUTES.get(k, Access("?")).kind in ("staff", "console")]


def test_every_route_is_declared() -> None:
    undeclared = [k for k in APP_ROUTES if k not in ROUTES]
    stale = [k for k in ROUTES if k not in APP_ROUTES]
    assert undeclared == [], f"declare who may call these routes in tests/parking/staff/route_access.py: {undeclared}"
    assert stale == [], f"routes declared but gone: {stale}"
    assert "X-Operator-Key" not in str(ROUTES)


@dataclass
class World:
    lot: LotHandle
    other_lot: LotHandle
    staff: dict[str, StaffHandle]  # role -> staff of lot's operator
    intruder: StaffHandle  # admin of another operator
    victim_token_id: uuid.UUID
    alert_id: uuid.UUID
    event_id: str
    session_id: str
    payment_id: uuid.UUID
    plate: str
    dispute_id: uuid.UUID
    report_id: uuid.UUID
    claim_id: uuid.UUID
    proposal_id: uuid.UUID
    discrepancy_id: int

    def params(self) -> dict[str, str]:
        return {
            "lot_id": str(self.lot.id),
            "code": self.lot.code,
            "dispute_id": str(self.dispute_id),
            "report_id": str(self.report_id),
            "claim_id": str(self.claim_id),
            "proposal_id": str(self.proposal_id),
            "discrepancy_id": str(self.discrepancy_id),
            "session_id": self.session_id,
            "payment_id": str(self.payment_id),
            "token_id": str(self.victim_token_id),
            "lane_id": str(self.lot.entry.id),
            "alert_id": str(self.alert_id),
            "event_id": self.event_id,
            "fmt": "csv",
        }

    def secrets_of_lot(self) -> list[str]:
        return [str(self.lot.id), self.lot.code, self.session_id, self.plate, str(self.lot.entry.id)]


@pytest.fixture(scope="module")
async def world(sessionmaker: async_sessionmaker[AsyncSession], live_server: Any) -> World:
    from parking.staff import service as staff_service

    lot = await make_lot(sessionmaker, capacities={"car_small": 5})
    other = await make_lot(sessionmaker, capacities={"car_small": 5})
    staff = {role: await make_staff(sessionmaker, lot.operator_id, role) for role in ALL_ROLES}
    intruder = await make_staff(sessionmaker, other.operator_id, "admin")
    plate = random_car_plate()
    async with httpx.AsyncClient(base_url=live_server.url) as c:
        ev = event("entry", plate, image_jpeg_b64=base64.b64encode(TINY_JPEG).decode())
        r = await c.post("/v1/gate/events", json=ev, headers=lot.entry.headers)
        assert r.status_code == 200, r.text
        session_id = r.json()["session_id"]
    async with sessionmaker() as db:
        payment = Payment(
            id=uuid.uuid4(),
            session_id=uuid.UUID(session_id),
            amount_vnd=5000,
            status="confirmed",
            method="vietqr",
            provider="test",
            purpose="session",
        )
        db.add(payment)
        user = await db.get(StaffUser, staff["admin"].id)
        assert user is not None
        me = await staff_service.principal(db, user, role="admin", via="token")
        tok, _ = await staff_service.create_token(
            db, me, name="victim", role="auditor", expires_days=None, now=staff_service.now_utc()
        )
        alert_id = await raise_alert(
            db,
            operator_id=lot.operator_id,
            lot_id=lot.id,
            kind="lot_full",
            severity="critical",
            message=f"{lot.code} full",
            dedupe_key=f"route-test:{lot.id}",
        )
        assert alert_id is not None
        # The driver-side queues: a dispute, a problem report and a plate claim on this lot's car, and a
        # reconciliation refund proposal on its payment.
        sess = await db.get(ParkingSession, uuid.UUID(session_id))
        assert sess is not None and sess.plate
        driver = Driver(id=uuid.uuid4(), email=f"route-{uuid.uuid4().hex[:8]}@example.vn", password_hash=None)
        db.add(driver)
        await db.flush()
        dispute = Dispute(
            id=uuid.uuid4(), session_id=sess.id, driver_id=driver.id, lot_id=lot.id, kind="other",
            reason="route test", evidence={},
        )  # fmt: skip
        report = LotReport(id=uuid.uuid4(), lot_id=lot.id, driver_id=driver.id, kind="barrier_broken", comment="x")
        claim = VehicleClaim(id=uuid.uuid4(), driver_id=driver.id, plate=sess.plate, vehicle_class=sess.vehicle_class)
        db.add_all([dispute, report, claim])
        await db.flush()
        proposal = RefundProposal(
            id=uuid.uuid4(), business_date=staff_service.now_utc().date(), statement_line_id=uuid.uuid4().int >> 66,
            payment_id=payment.id, amount_vnd=1000, status="awaiting_approval",
        )  # fmt: skip
        db.add(proposal)
        # and a reconciliation finding on that payment (the finance console's drill-down and explanation)
        finding = Discrepancy(
            business_date=proposal.business_date, code="amount_mismatch", provider="test", lot_id=lot.id,
            session_id=sess.id, payment_id=payment.id, expected_vnd=5000, actual_vnd=4000, evidence={},
            action_vi="Kiểm tra", action_en="Check",
        )  # fmt: skip
        db.add(finding)
        await db.flush()
        await db.commit()
    return World(
        lot, other, staff, intruder, tok.id, alert_id, ev["event_id"], session_id, payment.id, plate,
        dispute.id, report.id, claim.id, proposal.id, finding.id,
    )  # fmt: skip


def _url(path: str, params: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        return params.get(m.group(1), str(uuid.uuid4()))

    return re.sub(r"\{([a-z_]+)\}", sub, path)


async def _call(
    c: httpx.AsyncClient, method: str, path: str, params: dict[str, str], access: Access, headers: dict[str, str]
) -> httpx.Response:
    url = _url(path, {**access.extra.get("params", {}), **params})
    query = access.extra.get("query")
    if path.endswith("/stream") or path.endswith("/commands"):
        async with c.stream(method, url, headers=headers, params=query) as r:
            await r.aclose()
            return r
    if method in ("GET", "DELETE"):
        return await c.request(method, url, headers=headers, params=query)
    if access.form:
        return await c.request(method, url, data=access.body or {}, headers=headers, params=query)
    body = access.body if access.body is not None else {}
    return await c.request(method, url, json=body, headers=headers, params=query)


@pytest.mark.parametrize(("method", "path"), APP_ROUTES, ids=[f"{m} {p}" for m, p in APP_ROUTES])
async def test_route_without_credentials(method: str, path: str, client: httpx.AsyncClient) -> None:
    access = ROUTES[(method, path)]
    r = await _call(client, method, path, {}, access, {})
    if access.kind in ("lane", "driver", "staff", "city"):
        assert r.status_code == 401, r.text
    elif access.kind == "driver_page":  # the driver's pages send a visitor without the cookie to sign in, or refuse
        signin = r.status_code in (302, 303) and r.headers["location"].startswith("/m/login")
        assert signin or r.status_code in (401, 403, 404), r.text
    elif access.kind == "console":
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login"), r.text
    elif access.kind == "receipt":
        assert r.status_code == 404  # no such code, and without the link's key it would not be shown anyway
    elif access.kind == "webhook":
        body = r.json()
        assert r.status_code in (400, 401) or body.get("RspCode") != "00", body  # nothing is confirmed
    else:
        assert r.status_code not in (401, 403), (access.why, r.text)


@pytest.mark.parametrize(("method", "path"), STAFF_ROUTES, ids=[f"{m} {p}" for m, p in STAFF_ROUTES])
async def test_staff_route_refuses_lane_and_driver_credentials(
    method: str, path: str, client: httpx.AsyncClient, world: World
) -> None:
    access = ROUTES[(method, path)]
    refused = (303,) if access.kind == "console" else (401,)  # the console sends the visitor to its login page
    r = await _call(client, method, path, world.params(), access, world.lot.entry.headers)
    assert r.status_code in refused, r.text
    r = await _call(client, method, path, world.params(), access, {"Authorization": "Bearer stf_forged"})
    assert r.status_code in refused, r.text


@pytest.mark.parametrize(("method", "path"), STAFF_ROUTES, ids=[f"{m} {p}" for m, p in STAFF_ROUTES])
async def test_staff_route_roles(method: str, path: str, client: httpx.AsyncClient, world: World) -> None:
    access = ROUTES[(method, path)]
    for role in ALL_ROLES:
        r = await _call(client, method, path, world.params(), access, world.staff[role].headers)
        if role in access.roles:
            assert r.status_code not in (401, 403, 404), (role, r.text)
        else:
            assert r.status_code == 403, (role, r.text)


@pytest.mark.parametrize(("method", "path"), STAFF_ROUTES, ids=[f"{m} {p}" for m, p in STAFF_ROUTES])
async def test_staff_route_hides_another_operators_data(
    method: str, path: str, client: httpx.AsyncClient, world: World
) -> None:
    access = ROUTES[(method, path)]
    r = await _call(client, method, path, world.params(), access, world.intruder.headers)
    # The path names a resource of the other operator (a format, a language or a day is nobody's)
    if re.search(r"\{(?!fmt\}|locale\}|day\})", path):
        assert r.status_code in (403, 404), r.text
    if path.endswith("/stream"):
        return  # a live stream: tested by test_console_stream_only_carries_own_lots
    body = r.text
    for secret in world.secrets_of_lot():
        assert secret not in body, (secret, body[:500])
