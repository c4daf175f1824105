"""The finance console's reconciliation pages in a real browser (Playwright driving /usr/bin/chromium).

Finance logs in, finds a reconciled day with discrepancies, drills into a duplicate credit (the raw bank line, the
session, the payments), marks it explained with a note, approves its refund; rejects the other duplicate's refund
with a reason. The auditor sees the same evidence and no button; the operator role gets no finance page.

With PARKING_CONSOLE_SCREENSHOTS=<folder>, the pages are saved there (docs/console/ holds the committed set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import AuditLog, Discrepancy, DiscrepancyResolution, RefundProposal
from tests.factories import StaffHandle, make_lot, make_staff
from tests.parking.console.recon_day import build_day
from tests.parking.console.test_console_browser import browser, login, shot
from tests.reconciliation.daybuilder import Day

BASE = "/console/finance/reconciliation"


@dataclass
class FinanceSite:
    url: str
    staff: dict[str, StaffHandle]
    day: Day


@pytest.fixture(scope="module")
async def fsite(
    live_server: Any, sessionmaker: async_sessionmaker[AsyncSession], tmp_path_factory: pytest.TempPathFactory
) -> FinanceSite:
    lot = await make_lot(sessionmaker, capacities={"car_small": 50})
    d = await build_day(sessionmaker, lot, tmp_path_factory.mktemp("recon-browser"))
    staff = {r: await make_staff(sessionmaker, lot.operator_id, r) for r in ("finance", "auditor", "operator")}
    return FinanceSite(live_server.url, staff, d)


async def _duplicates(sm: async_sessionmaker[AsyncSession], d: Day) -> list[Discrepancy]:
    async with sm() as db:
        q = select(Discrepancy).where(Discrepancy.business_date == d.day, Discrepancy.code == "duplicate_credit")
        return list((await db.execute(q.order_by(Discrepancy.statement_line_id))).scalars())


async def _open_day(page: Page, fs: FinanceSite, *, screenshot: bool = False) -> None:
    await page.get_by_role("link", name="Đối soát", exact=True).click()
    await page.get_by_label("Đến ngày").fill(fs.day.day.isoformat())
    await page.get_by_role("button", name="Xem").click()
    row = page.get_by_test_id(f"recon-run-{fs.day.day}")
    await expect(row).to_contain_text("Chuyển trùng: 2")
    await expect(row).to_contain_text("Lệch số tiền: 1")
    if screenshot:
        await shot(page, "10-recon-runs")
    await row.get_by_role("link", name=fs.day.day.strftime("%d/%m/%Y")).click()
    await expect(page.get_by_test_id("class-duplicate_credit")).to_be_visible()
    await expect(page.get_by_test_id("class-leakage")).to_be_visible()


async def test_finance_drills_down_explains_approves_and_rejects(
    browser: Browser, fsite: FinanceSite, sessionmaker: async_sessionmaker[AsyncSession], payment_sim_url: str
) -> None:
    first, second = await _duplicates(sessionmaker, fsite.day)
    page = await login(browser, fsite, "finance")  # type: ignore[arg-type]  # login reads .url and .staff
    await _open_day(page, fsite, screenshot=True)
    await shot(page, "11-recon-day")
    await page.get_by_role("link", name=f"Mở chênh lệch {first.id}").click()
    await expect(page.get_by_test_id("statement-line")).to_be_visible()
    await expect(page.get_by_test_id("session")).to_contain_text(fsite.day.lot.code)
    await expect(page.get_by_test_id("suggested-action")).to_contain_text(first.action_vi)
    note = "Khách quét QR hai lần; hoàn lại lần chuyển thứ hai"
    await page.get_by_label("Giải trình (bắt buộc, ghi kèm tên bạn)").fill(note)
    await page.get_by_test_id("explain").click()
    await expect(page.get_by_test_id("resolution")).to_contain_text(note)
    await page.get_by_test_id("approve-refund").click()
    await expect(page.get_by_test_id("proposal-status")).to_have_text("đã hoàn")
    await page.reload()  # what was recorded, as the next visitor sees it
    await expect(page.get_by_test_id("resolution")).to_contain_text(note)
    await expect(page.get_by_test_id("history")).to_contain_text("đối soát: duyệt hoàn tiền")
    await shot(page, "12-recon-discrepancy")

    await page.goto(f"{fsite.url}{BASE}/discrepancies/{second.id}")
    await page.get_by_label("Lý do (bắt buộc khi giữ lại tiền, được ghi nhận)").fill("Bù trừ khoản nợ lượt trước")
    await page.get_by_test_id("reject-refund").click()
    await expect(page.get_by_test_id("proposal-status")).to_have_text("bị từ chối")
    await page.context.close()

    async with sessionmaker() as db:
        props = {
            p.statement_line_id: p
            for p in (
                await db.execute(select(RefundProposal).where(RefundProposal.business_date == fsite.day.day))
            ).scalars()
        }
        res = (
            await db.execute(select(DiscrepancyResolution).where(DiscrepancyResolution.business_date == fsite.day.day))
        ).scalar_one()
        actions = set(
            (
                await db.execute(
                    select(AuditLog.action).where(AuditLog.actor == f"staff:{fsite.staff['finance'].email}")
                )
            ).scalars()
        )
    assert first.statement_line_id is not None and second.statement_line_id is not None
    assert props[first.statement_line_id].status == "executed" and props[second.statement_line_id].status == "rejected"
    assert res.note == note and res.code == "duplicate_credit"
    assert {"reconciliation.explained", "reconciliation.refund_approved", "reconciliation.refund_rejected"} <= actions


async def test_auditor_reads_without_buttons_and_operator_gets_no_finance_page(
    browser: Browser, fsite: FinanceSite, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    dup = (await _duplicates(sessionmaker, fsite.day))[0]
    page = await login(browser, fsite, "auditor")  # type: ignore[arg-type]
    await _open_day(page, fsite)
    await page.get_by_role("link", name=f"Mở chênh lệch {dup.id}").click()
    await expect(page.get_by_test_id("statement-line")).to_be_visible()
    await expect(page.get_by_test_id("payments")).to_be_visible()
    await expect(page.get_by_test_id("explain")).to_have_count(0)
    await expect(page.get_by_test_id("approve-refund")).to_have_count(0)
    await expect(page.get_by_test_id("reject-refund")).to_have_count(0)
    await page.context.close()

    page = await login(browser, fsite, "operator")  # type: ignore[arg-type]
    await expect(page.get_by_role("link", name="Đối soát", exact=True)).to_have_count(0)
    r = await page.goto(f"{fsite.url}{BASE}")
    assert r is not None and r.status == 403
    r = await page.goto(f"{fsite.url}{BASE}/discrepancies/{dup.id}")
    assert r is not None and r.status == 403
    await page.context.close()


async def test_tablet_width(
    browser: Browser, fsite: FinanceSite, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """At a gate booth's tablet width the day's page reflows: no horizontal scroll of the whole page."""
    page = await login(browser, fsite, "finance")  # type: ignore[arg-type]
    await page.set_viewport_size({"width": 800, "height": 1280})
    await page.goto(f"{fsite.url}{BASE}/{fsite.day.day}")
    await expect(page.get_by_test_id("class-duplicate_credit")).to_be_visible()
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, overflow
    await shot(page, "13-recon-tablet")
    await page.context.close()


__all__ = ["browser"]
