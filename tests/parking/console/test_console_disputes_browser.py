"""In the real browser (Playwright driving Debian's Chromium): a supervisor refunds a driver's dispute from the
console; the provider refund and the adjustment invoice follow, and the driver's API shows the decision.
An auditor sees the same dispute without any decision button; the driver's problem report is on the reports
page, acknowledged there.

With PARKING_CONSOLE_SCREENSHOTS=<folder>, the pages are saved there (docs/console/ holds the committed set).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import AuditLog, Dispute
from tests.factories import LotHandle, StaffHandle, event, make_staff, random_car_plate
from tests.parking.console.test_console_browser import _jpeg
from tests.parking.console.test_console_disputes import driver_with_plate
from tests.parking.drivers.conftest import Idp
from tests.parking.payments.conftest import Sim

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SHOTS = os.environ.get("PARKING_CONSOLE_SCREENSHOTS")


def _exists(path: str) -> bool:
    return os.path.exists(path)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not _exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does it)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


async def login(browser: Browser, url: str, s: StaffHandle) -> Page:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page = await ctx.new_page()
    await page.goto(f"{url}/console/lang/vi")
    await page.goto(f"{url}/console/login")
    await page.get_by_label("Địa chỉ e-mail").fill(s.email)
    await page.get_by_label("Mật khẩu").fill(s.password)
    await page.get_by_role("button", name="Đăng nhập").click()
    await expect(page).to_have_url(f"{url}/console")
    return page


async def shot(page: Page, name: str) -> None:
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


async def test_supervisor_refunds_a_dispute_from_the_console_and_the_driver_sees_it(
    browser: Browser,
    live_server: Any,
    client: httpx.AsyncClient,
    idp: Idp,
    sim: Sim,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    plate = random_car_plate()
    driver = await driver_with_plate(client, idp, plate)
    wallet = await sim.new_account(1_000_000)
    r = await client.post(
        "/v1/drivers/me/payment-methods", json={"provider_token": wallet, "kind": "ewallet"}, headers=driver
    )
    assert r.status_code == 201, r.text
    at = datetime.now(UTC)
    crop = _jpeg(plate)
    await client.post(
        "/v1/gate/events",
        json=event("entry", plate, at=at - timedelta(hours=3), image_jpeg_b64=crop),
        headers=lot.entry.headers,
    )
    ex = (
        await client.post(
            "/v1/gate/events", json=event("exit", plate, at=at, image_jpeg_b64=crop), headers=lot.exit.headers
        )
    ).json()
    assert "linked_account" in ex["flags"] and ex["fee_vnd"] > 25_000, ex  # paid from the wallet at the exit
    r = await client.post(
        "/v1/drivers/me/disputes",
        json={"session_id": ex["session_id"], "kind": "wrong_time", "reason": "Tôi vào lúc muộn hơn, chỉ gửi 2 giờ."},
        headers=driver,
    )
    assert r.status_code == 201, r.text
    dispute_id = r.json()["id"]
    r = await client.post(
        f"/v1/lots/{lot.code}/reports",
        json={"kind": "barrier_broken", "comment": "Barie lối ra không nâng"},
        headers=driver,
    )
    report_id = r.json()["id"]
    r = await client.post(
        f"/v1/lots/{lot.code}/reports", json={"kind": "rating", "stars": 4, "comment": "Sạch, dễ tìm"}, headers=driver
    )
    assert r.status_code == 201, r.text

    # The auditor reads the dispute and its evidence, with no decision button.
    auditor = await login(browser, live_server.url, await make_staff(sessionmaker, lot.operator_id, "auditor"))
    await auditor.get_by_role("link", name="Khiếu nại").click()
    card = auditor.get_by_test_id(f"dispute-{dispute_id}")
    await expect(card).to_contain_text("Tôi vào lúc muộn hơn, chỉ gửi 2 giờ.")
    await expect(card.get_by_test_id("fee-trace")).to_be_visible()
    await expect(card.get_by_role("img")).to_have_count(2)  # the entry and exit crops, side by side
    await expect(card.get_by_role("button")).to_have_count(0)
    await auditor.context.close()

    sup = await make_staff(sessionmaker, lot.operator_id, "supervisor")
    page = await login(browser, live_server.url, sup)
    await page.get_by_role("link", name="Khiếu nại").click()
    card = page.get_by_test_id(f"dispute-{dispute_id}")
    await expect(card).to_contain_text("sai thời gian")
    await shot(page, "08-disputes")
    await card.get_by_label("Lý do (tài xế sẽ đọc)").fill("Camera lối vào ghi sai giờ; hoàn 1 giờ.")
    await card.get_by_label("Số tiền hoàn (₫), để trống: hoàn toàn bộ").fill("25000")
    await card.get_by_test_id(f"refund-{dispute_id}").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Đã quyết định khiếu nại: hoàn 25.000 ₫")

    # The problem report is on the reports page; acknowledged there.
    await page.get_by_role("link", name="Phản ánh của tài xế").click()
    row = page.get_by_test_id(f"report-{report_id}")
    await expect(row).to_contain_text("barie hỏng")
    await expect(page.get_by_test_id(f"rating-summary-{lot.code}")).to_contain_text("4.00 / 5")
    await shot(page, "09-driver-reports")
    await row.get_by_test_id(f"ack-report-{report_id}").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Đã tiếp nhận phản ánh")
    await page.context.close()

    # The driver sees the decision; the provider refund and the adjustment invoice follow through the outbox.
    for _ in range(150):
        seen = (await client.get(f"/v1/drivers/me/disputes/{dispute_id}", headers=driver)).json()
        if seen["adjustment_invoice"] is not None and seen["refund_status"] != "pending":
            break
        await asyncio.sleep(0.1)
    assert seen["status"] == "refunded" and seen["refund_vnd"] == 25_000
    assert seen["decision_reason"] == "Camera lối vào ghi sai giờ; hoàn 1 giờ."
    assert seen["refund_status"] == "succeeded" and seen["adjustment_invoice"] is not None
    async with sessionmaker() as db:
        d = (await db.execute(select(Dispute).where(Dispute.id == dispute_id))).scalar_one()
        audit = (await db.execute(select(AuditLog.action).where(AuditLog.entity_id == dispute_id))).scalars().all()
    assert d.decided_by == f"staff:{sup.email}" and list(audit) == ["dispute.refund"]
