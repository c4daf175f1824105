"""The driver's mobile pages in the real Chromium at phone size (Playwright, Debian's /usr/bin/chromium):
find the nearest lot with free spaces, sign in through the identity provider, see the current session's fee
and its proof, dispute it, and see the operator's decision."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import Lot
from tests.factories import event, make_lot, random_car_plate
from tests.parking.drivers.conftest import Idp, new_subject, staff_headers

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")


@pytest.fixture
async def page() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        ctx = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="vi-VN")
        yield await ctx.new_page()
        await browser.close()


async def test_a_driver_finds_a_lot_signs_in_sees_the_fee_and_disputes(
    page: object,
    client: httpx.AsyncClient,
    idp: Idp,
    sessionmaker: async_sessionmaker[AsyncSession],
    live_server: object,
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    base = client.base_url
    # Two lots near a spot of our own: the nearer one is full, the farther one has spaces.
    lat, lon = -33.8688, 151.2093
    full = await make_lot(sessionmaker, capacities={"car_small": 1})
    free = await make_lot(sessionmaker, capacities={"car_small": 5})
    for handle, dlat in ((full, 0.001), (free, 0.003)):
        async with sessionmaker() as db:
            await db.execute(
                update(Lot)
                .where(Lot.id == handle.id)
                .values(latitude=Decimal(f"{lat + dlat:.6f}"), longitude=Decimal(f"{lon:.6f}"))
            )
            await db.commit()
    await client.post("/v1/gate/events", json=event("entry", random_car_plate()), headers=full.entry.headers)
    plate = random_car_plate()
    await client.post(
        "/v1/gate/events",
        json=event("entry", plate, at=datetime.now(UTC) - timedelta(hours=1, minutes=20)),
        headers=free.entry.headers,
    )
    sub = new_subject()
    idp.register(sub, [{"plate": plate, "vehicle_class": "car_small", "since": "2022-05-01"}], name="Phạm Thị Dung")

    await page.goto(f"{base}/m?lat={lat}&lon={lon}&vehicle_class=car_small")
    lots = page.locator(".lot")
    await expect(lots.first).to_contain_text("Còn 4 chỗ")  # the lot with spaces (our car in it) comes first
    await expect(lots.nth(1)).to_contain_text("Hết chỗ")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # fits the phone, no sideways scrolling
    await lots.first.click()
    await expect(page.locator("h2").first).to_contain_text("Test lot")
    await expect(page.locator("body")).to_contain_text("25.000 đ")

    # Sign in through the (simulated) city identity provider.
    await page.goto(f"{base}/m/login")
    await page.get_by_text("Phạm Thị Dung").click()
    await expect(page.locator("h1")).to_contain_text("Phạm Thị Dung")
    current = page.locator(".current")
    await expect(current).to_contain_text("50.000 đ")  # 2 started hours at 25,000
    await current.get_by_text("Chi tiết cách tính phí").click()
    await expect(page.locator("#lines")).to_contain_text("Giờ thứ 1–2")
    await page.select_option("select[name=kind]", "wrong_time")
    await page.fill("textarea[name=reason]", "Tôi vào muộn hơn giờ ghi nhận.")
    await page.get_by_text("Gửi khiếu nại").click()
    await expect(page.locator("#message")).to_contain_text("Đã gửi khiếu nại")

    desk = await staff_headers(sessionmaker, free.operator_id, "operator")
    queue = (await client.get("/v1/operator/disputes", headers=desk)).json()
    mine = next(d for d in queue if d["reason"] == "Tôi vào muộn hơn giờ ghi nhận.")
    r = await client.post(
        f"/v1/operator/disputes/{mine['id']}/decision",
        json={"decision": "reject", "reason": "Ảnh camera lối vào khớp với giờ ghi nhận."},
        headers=desk,
    )
    assert r.status_code == 200
    await page.goto(f"{base}/m/me")
    await expect(page.locator(".dispute")).to_contain_text("Bị từ chối")
    await expect(page.locator(".dispute")).to_contain_text("Ảnh camera lối vào khớp với giờ ghi nhận.")
