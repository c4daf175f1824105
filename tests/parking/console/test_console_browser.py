"""The consoles in a real browser (Playwright driving Debian's Chromium at /usr/bin/chromium).

Each role logs in through the login form; occupancy changes on screen when the gate API posts an event
(server-sent events, no reload); a review item is resolved, a barrier opened by hand, an alert acknowledged,
a report exported; a role that must not see a lot or a button does not.

With PARKING_CONSOLE_SCREENSHOTS=<folder>, each page is also saved there (docs/console/ holds the committed set).
"""

from __future__ import annotations

import base64
import io
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.console.alerts import raise_alert
from parking.models import AuditLog, ConsoleAlert, GateEvent, LaneOverride, Lot, ParkingSession
from tests.factories import LotHandle, StaffHandle, event, make_lot, make_staff, random_car_plate

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = os.environ.get("PARKING_CONSOLE_SCREENSHOTS")
ROLES = ("admin", "supervisor", "operator", "finance", "auditor")


def _jpeg(text: str) -> str:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (240, 80), "white")
    ImageDraw.Draw(img).text((10, 30), text, fill="black")
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    return base64.b64encode(buf.getvalue()).decode()


def _exists(path: str) -> bool:
    return os.path.exists(path)


def _head(path: Any, n: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


@dataclass
class Site:
    url: str
    lot: LotHandle  # every role sees it
    lot2: LotHandle  # same operator; the "operator" account is limited to `lot`, so never sees this one
    staff: dict[str, StaffHandle]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not _exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does it)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


@pytest.fixture(scope="module")
async def site(live_server: Any, sessionmaker: async_sessionmaker[AsyncSession]) -> Site:
    lot = await make_lot(sessionmaker, capacities={"car_small": 5, "car_large": 2})
    lot2 = await make_lot(sessionmaker, capacities={"car_small": 3})
    async with sessionmaker() as db:
        await db.execute(update(Lot).where(Lot.id == lot2.id).values(operator_id=lot.operator_id, latitude=21.0))
        await db.commit()
    staff = {
        role: await make_staff(sessionmaker, lot.operator_id, role, lot_ids=(lot.id,) if role == "operator" else ())
        for role in ROLES
    }
    async with httpx.AsyncClient(base_url=live_server.url) as c:
        for lane in (lot.entry, lot.exit, lot2.entry):
            await c.post(
                "/v1/gate/heartbeat", json={"fps": 4.0, "queue_depth": 1, "camera_ok": True}, headers=lane.headers
            )
        plate = random_car_plate()
        await c.post(
            "/v1/gate/events",
            json=event("entry", plate, confidence=0.62, image_jpeg_b64=_jpeg(plate)),
            headers=lot.entry.headers,
        )
    return Site(live_server.url, lot, lot2, staff)


async def login(browser: Browser, site: Site, role: str, locale: str = "vi") -> Page:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN", accept_downloads=True)
    page = await ctx.new_page()
    await page.goto(f"{site.url}/console/lang/{locale}")
    await page.goto(f"{site.url}/console")
    await expect(page).to_have_url(f"{site.url}/console/login?next=/console")
    s = site.staff[role]
    await page.get_by_label("Địa chỉ e-mail" if locale == "vi" else "E-mail address").fill(s.email)
    await page.get_by_label("Mật khẩu" if locale == "vi" else "Password").fill(s.password)
    await page.get_by_role("button", name="Đăng nhập" if locale == "vi" else "Log in").click()
    await expect(page).to_have_url(f"{site.url}/console")
    return page


async def shot(page: Page, name: str) -> None:
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_logs_in_and_sees_only_what_it_may(browser: Browser, site: Site, role: str) -> None:
    page = await login(browser, site, role)
    await expect(page.get_by_test_id("role")).to_have_text(
        {"admin": "quản trị", "supervisor": "giám sát", "operator": "vận hành", "finance": "kế toán",
         "auditor": "kiểm toán"}[role]
    )  # fmt: skip
    await expect(page.get_by_test_id(f"lot-{site.lot.code}")).to_be_visible()
    # The "operator" account is limited to one lot: the other lot of its company is nowhere on its screen.
    other = page.get_by_test_id(f"lot-{site.lot2.code}")
    await (expect(other).to_have_count(0) if role == "operator" else expect(other).to_be_visible())
    assert (site.lot2.code in await page.content()) == (role != "operator")
    # Only supervisors (and admins) get the barrier button; only finance, auditors and admins the revenue page.
    button = page.get_by_test_id(f"override-{site.lot.code}-E1")
    await (expect(button).to_be_visible() if role in ("admin", "supervisor") else expect(button).to_have_count(0))
    revenue = page.get_by_role("link", name="Doanh thu")
    await (
        expect(revenue).to_be_visible() if role in ("admin", "finance", "auditor") else expect(revenue).to_have_count(0)
    )
    if role not in ("admin", "finance", "auditor"):
        r = await page.goto(f"{site.url}/console/finance")
        assert r is not None and r.status == 403
    await page.context.close()


async def test_occupancy_changes_on_screen_when_the_gate_posts_an_event(browser: Browser, site: Site) -> None:
    page = await login(browser, site, "operator")
    await shot(page, "01-operator-overview")
    cell = page.get_by_test_id(f"occ-{site.lot.code}-car_large")
    await expect(cell).to_contain_text("0 / 2")
    await page.wait_for_timeout(300)  # the SSE connection opens after the page's scripts load
    plate = random_car_plate()
    async with httpx.AsyncClient(base_url=site.url) as c:
        ev = event("entry", plate, vehicle_class="car_large", image_jpeg_b64=_jpeg(plate))
        r = await c.post("/v1/gate/events", json=ev, headers=site.lot.entry.headers)
        assert r.status_code == 200 and r.json()["action"] == "open", r.text
    await expect(cell).to_contain_text("1 / 2", timeout=10_000)  # no reload: server-sent events
    feed = page.get_by_test_id("feed")
    await expect(feed.get_by_test_id("feed-item").first).to_contain_text(plate.replace("-", "").replace(".", ""))
    await page.context.close()


async def test_supervisor_opens_a_barrier_with_a_reason(
    browser: Browser, site: Site, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    page = await login(browser, site, "supervisor")
    row = page.get_by_test_id(f"lane-{site.lot.code}-X1")
    await row.get_by_label("Lý do").fill("Đầu đọc lỗi, đã kiểm tra vé")
    await row.get_by_test_id(f"override-{site.lot.code}-X1").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Đã gửi lệnh mở barie")
    await shot(page, "02-supervisor-override")
    async with sessionmaker() as db:
        o = (await db.execute(select(LaneOverride).where(LaneOverride.lane_id == site.lot.exit.id))).scalar_one()
    assert o.reason == "Đầu đọc lỗi, đã kiểm tra vé" and o.actor == f"staff:{site.staff['supervisor'].email}"
    await page.context.close()


async def test_operator_resolves_a_review_item(
    browser: Browser, site: Site, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plate = random_car_plate()
    now = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=site.url) as c:
        r = await c.post("/v1/gate/events", json=event("entry", plate, at=now - timedelta(hours=2), confidence=0.55,
                         image_jpeg_b64=_jpeg(plate)), headers=site.lot.entry.headers)  # fmt: skip
        sid = r.json()["session_id"]
        await c.post(
            "/v1/gate/events", json=event("exit", plate, image_jpeg_b64=_jpeg(plate)), headers=site.lot.exit.headers
        )
    async with sessionmaker() as db:
        await db.execute(
            update(ParkingSession).where(ParkingSession.id == uuid.UUID(sid)).values(
                review_status="pending", review_reason="low_confidence", flags=["low_confidence"])
        )  # fmt: skip
        await db.commit()
    page = await login(browser, site, "operator")
    await page.get_by_role("link", name="Hàng chờ xét duyệt").click()
    item = page.get_by_test_id(f"review-{sid}")
    await expect(item).to_be_visible()
    await shot(page, "03-review-queue")
    await item.get_by_label("Lý do (được ghi lại)").fill("Đã đối chiếu ảnh")
    await item.get_by_test_id(f"confirm-{sid}").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Đã xử lý")
    async with sessionmaker() as db:
        s = await db.get(ParkingSession, uuid.UUID(sid))
        audit = (await db.execute(select(AuditLog.action).where(AuditLog.entity_id == sid))).scalars().all()
    assert s is not None and s.review_status == "resolved" and "review.confirm" in audit
    await page.context.close()


async def test_alert_is_acknowledged_by_a_person_and_auditor_cannot(
    browser: Browser, site: Site, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as db:
        alert_id = await raise_alert(
            db, operator_id=site.lot.operator_id, lot_id=site.lot.id, kind="lot_nearly_full", severity="warning",
            message=f"{site.lot.code}: car_small sắp đầy / nearly full (5/5)", dedupe_key=f"e2e:{uuid.uuid4()}",
        )  # fmt: skip
        await db.commit()
    auditor = await login(browser, site, "auditor")
    await auditor.get_by_role("link", name="Cảnh báo").click()
    await expect(auditor.get_by_text(f"{site.lot.code}: car_small sắp đầy").first).to_be_visible()
    await expect(auditor.get_by_test_id(f"ack-{alert_id}")).to_have_count(0)
    await auditor.context.close()
    page = await login(browser, site, "operator")
    await page.get_by_role("link", name="Cảnh báo").click()
    await shot(page, "04-alerts")
    await page.get_by_test_id(f"ack-{alert_id}").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Đã xác nhận cảnh báo")
    async with sessionmaker() as db:
        a = await db.get(ConsoleAlert, alert_id)
    assert a is not None and a.acknowledged_by == f"staff:{site.staff['operator'].email}"
    await page.context.close()


async def test_finance_exports_the_revenue_report(browser: Browser, site: Site) -> None:
    page = await login(browser, site, "finance", locale="en")
    await page.get_by_role("link", name="Revenue").click()
    await expect(page.get_by_role("heading", name="Revenue", exact=True)).to_be_visible()
    await shot(page, "05-finance-revenue")
    for fmt, magic in (("csv", b"\xef\xbb\xbfDay,Lot"), ("xlsx", b"PK"), ("pdf", b"%PDF")):
        async with page.expect_download() as dl:
            await page.get_by_test_id(f"export-{fmt}").click()
        path = await (await dl.value).path()
        assert _head(path, len(magic)) == magic, fmt
    await page.get_by_role("link", name="Invoices").click()
    await page.get_by_label("Plate").fill("30A")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_test_id("invoice-results")).to_be_visible()
    await shot(page, "06-finance-invoices")
    await page.context.close()


async def test_login_page_and_english_switch(browser: Browser, site: Site) -> None:
    ctx = await browser.new_context(viewport={"width": 1024, "height": 768})
    page = await ctx.new_page()
    await page.goto(f"{site.url}/console/login")
    await expect(page.get_by_role("heading", name="Nhân viên đăng nhập")).to_be_visible()
    await shot(page, "00-login")
    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", name="Staff log in")).to_be_visible()
    await page.get_by_label("E-mail address").fill(site.staff["admin"].email)
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("Wrong e-mail address or password.")
    await ctx.close()


async def test_another_operators_admin_sees_none_of_it_in_the_browser(
    browser: Browser, site: Site, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    stranger_lot = await make_lot(sessionmaker, capacities={"car_small": 2})
    stranger = await make_staff(sessionmaker, stranger_lot.operator_id, "admin")
    page = await login(browser, Site(site.url, site.lot, site.lot2, {**site.staff, "stranger": stranger}), "stranger")
    html = await page.content()
    assert stranger_lot.code in html
    assert site.lot.code not in html and site.lot2.code not in html
    async with sessionmaker() as db:
        ev = (
            await db.execute(select(GateEvent.id).where(GateEvent.lot_id == site.lot.id, GateEvent.has_image).limit(1))
        ).scalar_one()
    r = await page.goto(f"{site.url}/console/events/{ev}/image")  # a crop of the other operator's lot
    assert r is not None and r.status == 404
    await page.goto(f"{site.url}/console/review")
    assert site.lot.code not in await page.content()
    await page.context.close()


async def test_overview_on_a_tablet(browser: Browser, site: Site) -> None:
    page = await login(browser, site, "supervisor")
    await page.set_viewport_size({"width": 768, "height": 1024})
    await expect(page.get_by_test_id(f"override-{site.lot.code}-E1")).to_be_visible()
    box = await page.get_by_test_id(f"override-{site.lot.code}-E1").bounding_box()
    assert box is not None and box["height"] >= 44  # a finger-sized target
    width = await page.evaluate("document.documentElement.scrollWidth")
    await shot(page, "07-tablet-supervisor")
    assert width <= 800, width  # no page-wide sideways scrolling on a tablet
    await page.context.close()
