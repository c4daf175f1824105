"""Splitting a stay from the review queue in a real browser (Playwright driving /usr/bin/chromium): the operator
opens the split form, types the two times in Hanoi time, and the stay becomes two priced visits.

With PARKING_CONSOLE_SCREENSHOTS=<folder>, the page is saved there (docs/console/ holds the committed set).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import AuditLog, ParkingSession
from tests.factories import LotHandle, StaffHandle, event, make_staff, random_car_plate
from tests.parking.console.test_console_browser import browser, login, shot

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass
class Desk:
    url: str
    staff: dict[str, StaffHandle]


async def test_operator_splits_a_stay_into_two_visits(
    browser: Browser, live_server: Any, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plate = random_car_plate()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    async with httpx.AsyncClient(base_url=live_server.url) as c:
        r = await c.post(
            "/v1/gate/events", json=event("entry", plate, at=now - timedelta(hours=5)), headers=lot.entry.headers
        )
        sid = r.json()["session_id"]
        await c.post("/v1/gate/events", json=event("exit", plate, at=now), headers=lot.exit.headers)
    async with sessionmaker() as db:
        await db.execute(
            update(ParkingSession)
            .where(ParkingSession.id == uuid.UUID(sid))
            .values(review_status="pending", review_reason="re-entered: two visits?", payment_status="debt")
        )
        await db.commit()
    desk = Desk(live_server.url, {"operator": await make_staff(sessionmaker, lot.operator_id, "operator")})
    page = await login(browser, desk, "operator")  # type: ignore[arg-type]  # login reads .url and .staff
    await page.get_by_role("link", name="Hàng chờ xét duyệt").click()
    item = page.get_by_test_id(f"review-{sid}")
    await item.get_by_text("Hai lượt gửi? Tách lượt này").click()
    first_exit = (now - timedelta(hours=4)).astimezone(HANOI)
    second_entry = (now - timedelta(hours=1)).astimezone(HANOI)
    await item.get_by_label("Lượt thứ nhất ra lúc (giờ Hà Nội)").fill(first_exit.strftime("%Y-%m-%dT%H:%M"))
    await item.get_by_label("Lượt thứ hai vào lúc (giờ Hà Nội)").fill(second_entry.strftime("%Y-%m-%dT%H:%M"))
    await item.get_by_label("Lý do (được ghi lại)").fill("Xe ra rồi vào lại, camera lối ra lỗi")
    await shot(page, "14-review-split")
    await item.get_by_test_id(f"split-button-{sid}").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Đã tách thành hai lượt gửi")
    await page.context.close()
    async with sessionmaker() as db:
        a = await db.get(ParkingSession, uuid.UUID(sid))
        b = (
            await db.execute(select(ParkingSession).where(ParkingSession.review_reason.like(f"split from {sid}%")))
        ).scalar_one()
        actions = (await db.execute(select(AuditLog.action).where(AuditLog.entity_id == str(b.id)))).scalars().all()
    assert a is not None and a.exit_at == first_exit and b.entry_at == second_entry and b.exit_at == now
    assert "review.split" in actions


__all__ = ["browser"]
