"""The finance console's reconciliation pages over HTTP (issue 11.3): runs by day, a day's discrepancies by class,
one discrepancy's drill-down to the raw bank line, its session and payments; marking it explained (a note, audited,
surviving a re-run of the day), approving and rejecting refund proposals; the auditor reads only, the lot desk gets
no finance page, and another operator sees and touches nothing of this lot."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import AuditLog, Discrepancy, DiscrepancyResolution, Refund, RefundProposal
from tests.factories import StaffHandle, make_lot, make_staff
from tests.parking.console.helpers import console_login
from tests.parking.console.recon_day import build_day, reconcile
from tests.reconciliation.daybuilder import Day

BASE = "/console/finance/reconciliation"


@dataclass
class ReconDay:
    day: Day
    staff: dict[str, StaffHandle]
    stranger: StaffHandle  # finance of another operator


@pytest.fixture(scope="module")
async def rd(sessionmaker: async_sessionmaker[AsyncSession], tmp_path_factory: pytest.TempPathFactory) -> ReconDay:
    lot = await make_lot(sessionmaker, capacities={"car_small": 50})
    d = await build_day(sessionmaker, lot, tmp_path_factory.mktemp("recon-console"))
    staff = {
        r: await make_staff(sessionmaker, lot.operator_id, r) for r in ("finance", "auditor", "operator", "supervisor")
    }
    other = await make_lot(sessionmaker, capacities={"car_small": 1})
    return ReconDay(d, staff, await make_staff(sessionmaker, other.operator_id, "finance"))


async def discrepancies(sm: async_sessionmaker[AsyncSession], d: Day, code: str) -> list[Discrepancy]:
    async with sm() as db:
        q = select(Discrepancy).where(Discrepancy.business_date == d.day, Discrepancy.code == code)
        return list((await db.execute(q.order_by(Discrepancy.id))).scalars())


async def test_runs_day_and_drill_down_show_the_raw_line_session_and_payments(
    rd: ReconDay, live_server: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    d, h = rd.day, rd.staff["finance"].headers
    async with httpx.AsyncClient(base_url=live_server.url, headers=h) as c:
        runs = await c.get(BASE, params={"until": str(d.day)})
        assert runs.status_code == 200, runs.text
        row = re.search(rf'data-testid="recon-run-{d.day}">(.*?)</tr>', runs.text, re.S)
        assert row, runs.text[:3000]
        assert "Chuyển trùng: 2" in row.group(1) and "Lệch số tiền: 1" in row.group(1)  # Vietnamese by default
        assert "Thất thoát tại bãi: 1" in row.group(1)
        page = await c.get(f"{BASE}/{d.day}")
        assert page.status_code == 200
        for code in ("duplicate_credit", "amount_mismatch", "orphan_credit", "leakage"):
            assert f'data-testid="class-{code}"' in page.text
        dup = (await discrepancies(sessionmaker, d, "duplicate_credit"))[0]
        assert f'data-testid="discrepancy-{dup.id}"' in page.text and d.lot.code in page.text
        one = await c.get(f"{BASE}/discrepancies/{dup.id}")
        assert one.status_code == 200
        async with sessionmaker() as db:
            raw = (
                await db.execute(
                    text("SELECT raw FROM recon_statement_lines WHERE id = :i"), {"i": dup.statement_line_id}
                )
            ).scalar_one()
            plate = (
                await db.execute(text("SELECT plate FROM parking_sessions WHERE id = :i"), {"i": dup.session_id})
            ).scalar_one()
            # the duplicate money is booked apart (no session): the payment a refund would give back is shown too
            booked = (
                await db.execute(
                    text(
                        "SELECT p.provider_txn_id FROM recon_refund_proposals rp"
                        " JOIN payments p ON p.id = rp.payment_id WHERE rp.statement_line_id = :l"
                    ),
                    {"l": dup.statement_line_id},
                )
            ).scalar_one()
        html = one.text
        assert 'data-testid="statement-line"' in html and _esc(raw) in html  # the line as the bank exported it
        assert plate in html and 'data-testid="session"' in html and 'data-testid="payments"' in html
        assert _esc(booked) in html
        assert dup.action_vi in html and 'data-testid="approve-refund"' in html and 'data-testid="explain"' in html
        c.cookies.set("parking_lang", "en")
        en = await c.get(f"{BASE}/discrepancies/{dup.id}")
        c.cookies.delete("parking_lang")
        assert "Duplicate credit" in en.text and dup.action_en in en.text
        leak = (await discrepancies(sessionmaker, d, "leakage"))[0]
        assert 'data-testid="leakage"' in (await c.get(f"{BASE}/discrepancies/{leak.id}")).text
        assert (await c.get(f"{BASE}/discrepancies/999999999")).status_code == 404
        assert (await c.get(f"{BASE}/discrepancies/{2**63}")).status_code == 422  # beyond BIGINT: refused, no 500
        assert 'data-testid="recon-not-run"' in (await c.get(f"{BASE}/2001-01-01")).text


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;")


async def test_explained_with_a_note_audited_and_kept_across_a_rerun(
    rd: ReconDay, live_server: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    d, fin = rd.day, rd.staff["finance"]
    target = (await discrepancies(sessionmaker, d, "amount_mismatch"))[0]
    async with httpx.AsyncClient(base_url=live_server.url) as c:
        csrf = await console_login(c, fin.email, fin.password)
        url = f"{BASE}/discrepancies/{target.id}/explain"
        note = "Khách chuyển thiếu, đã thu bù tại quầy ngày hôm sau"
        assert (await c.post(url, data={"note": note})).status_code == 403  # no CSRF token: refused
        short = await c.post(url, data={"note": "ok"}, headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
        assert short.status_code == 422 and short.json()["error"]["code"] == "note_required"
        r = await c.post(url, data={"note": note}, headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
        assert r.status_code == 200 and note in r.text, r.text
        # the day page's report links open with the console's session cookie
        day_page = (await c.get(f"{BASE}/{d.day}")).text
        link = re.search(r'href="(/v1/reconciliation/reports/[^"]+format=csv[^"]*)"', day_page)
        assert link, day_page[:2000]
        csv = await c.get(link.group(1).replace("&amp;", "&"))
        assert csv.status_code == 200 and d.lot.code in csv.text
    async with sessionmaker() as db:
        res = (
            await db.execute(select(DiscrepancyResolution).where(DiscrepancyResolution.business_date == d.day))
        ).scalar_one()
        assert res.note == note and res.resolved_by == f"staff:{fin.email}" and res.code == "amount_mismatch"
        assert res.operator_id == d.lot.operator_id
        trail = (
            (await db.execute(select(AuditLog).where(AuditLog.action == "reconciliation.explained"))).scalars().all()
        )
        assert any(a.actor == f"staff:{fin.email}" and a.data["note"] == note for a in trail)
    # The night job runs the day again: new discrepancy rows, the explanation still stands.
    await reconcile(sessionmaker, d)
    again = (await discrepancies(sessionmaker, d, "amount_mismatch"))[0]
    assert again.id != target.id
    async with httpx.AsyncClient(base_url=live_server.url, headers=fin.headers) as c:
        page = (await c.get(f"{BASE}/discrepancies/{again.id}")).text
        assert note in page and 'data-testid="resolution"' in page
        row = re.search(
            rf'data-testid="recon-run-{d.day}">(.*?)</tr>', (await c.get(BASE, params={"until": str(d.day)})).text, re.S
        )
        assert row and re.search(r'data-testid="explained">1 / \d+', row.group(1))
        # over the API too, by token (no CSRF for tokens)
        r = await c.post(f"/v1/reconciliation/discrepancies/{again.id}/explain", json={"note": note + " (API)"})
        assert r.status_code == 200 and r.json()["status"] == "explained"


async def test_finance_approves_one_refund_and_rejects_another(
    rd: ReconDay, live_server: Any, sessionmaker: async_sessionmaker[AsyncSession], payment_sim_url: str
) -> None:
    d, fin = rd.day, rd.staff["finance"]
    async with sessionmaker() as db:
        proposals = list(
            (
                await db.execute(
                    select(RefundProposal)
                    .where(RefundProposal.business_date == d.day)
                    .order_by(RefundProposal.statement_line_id)
                )
            ).scalars()
        )
    assert [p.status for p in proposals] == ["awaiting_approval", "awaiting_approval"]
    first, second = proposals
    reason = "Tài xế còn nợ lượt gửi trước, bù trừ theo biên bản"
    async with httpx.AsyncClient(base_url=live_server.url, headers=fin.headers) as c:
        # over the API (an integration's token): the duplicate's own payment has no session, its lot is found
        # through the duplicate-credit discrepancy
        r = await c.post(f"/v1/reconciliation/refund-proposals/{first.id}/approve")
        assert r.status_code == 200 and r.json()["status"] == "executed", r.text
    async with httpx.AsyncClient(base_url=live_server.url) as c:
        csrf = await console_login(c, fin.email, fin.password)
        hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
        no_reason = await c.post(f"{BASE}/proposals/{second.id}/decision", data={"decision": "reject"}, headers=hx)
        assert no_reason.status_code == 422 and no_reason.json()["error"]["code"] == "reason_required"
        r = await c.post(
            f"{BASE}/proposals/{second.id}/decision", data={"decision": "reject", "reason": reason}, headers=hx
        )
        assert r.status_code == 200 and 'data-testid="proposal-status"' in r.text, r.text
        twice = await c.post(f"{BASE}/proposals/{first.id}/decision", data={"decision": "approve"}, headers=hx)
        assert twice.status_code == 409 and twice.json()["error"]["code"] == "proposal_decided"
    async with httpx.AsyncClient(base_url=live_server.url, headers=fin.headers) as c:
        again = await c.post(f"/v1/reconciliation/refund-proposals/{second.id}/reject", json={"reason": reason})
        assert again.status_code == 409
        assert (await c.post(f"/v1/reconciliation/refund-proposals/{second.id}/approve")).status_code == 409
    async with sessionmaker() as db:
        a = await db.get(RefundProposal, first.id)
        b = await db.get(RefundProposal, second.id)
        assert a is not None and b is not None
        assert (
            a.status == "executed" and a.refund_id is not None and (a.decided_by or "").startswith(f"staff:{fin.email}")
        )
        refund = await db.get(Refund, a.refund_id)
        assert refund is not None and refund.amount_vnd == a.amount_vnd
        assert b.status == "rejected" and b.refund_id is None and (b.decided_by or "").startswith(f"staff:{fin.email}")
        actions = {
            (x.action, x.entity_id)
            for x in (await db.execute(select(AuditLog).where(AuditLog.entity == "refund_proposal"))).scalars()
        }
        assert ("reconciliation.refund_approved", str(a.id)) in actions
        assert ("reconciliation.refund_rejected", str(b.id)) in actions


async def test_auditor_reads_without_buttons_and_the_desk_gets_no_finance_page(
    rd: ReconDay, live_server: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    d = rd.day
    orphan = (await discrepancies(sessionmaker, d, "orphan_credit"))[0]
    async with httpx.AsyncClient(base_url=live_server.url, headers=rd.staff["auditor"].headers) as c:
        assert (await c.get(f"{BASE}/{d.day}")).status_code == 200
        page = await c.get(f"{BASE}/discrepancies/{orphan.id}")
        assert page.status_code == 200 and 'data-testid="statement-line"' in page.text
        assert "approve-refund" not in page.text and 'data-testid="explain"' not in page.text
        assert (
            await c.post(f"{BASE}/discrepancies/{orphan.id}/explain", data={"note": "auditor note"})
        ).status_code == 403
    for role in ("operator", "supervisor"):
        async with httpx.AsyncClient(base_url=live_server.url, headers=rd.staff[role].headers) as c:
            assert (await c.get(BASE)).status_code == 403
            assert (await c.get(f"{BASE}/discrepancies/{orphan.id}")).status_code == 403
            assert "/console/finance/reconciliation" not in (await c.get("/console")).text


async def test_another_operator_sees_nothing_of_the_lot_and_keeps_its_own_notes(
    rd: ReconDay, live_server: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    d, mine = rd.day, rd.staff["finance"]
    dup = (await discrepancies(sessionmaker, d, "duplicate_credit"))[0]
    orphan = (await discrepancies(sessionmaker, d, "orphan_credit"))[0]
    async with sessionmaker() as db:
        proposal = (
            await db.execute(select(RefundProposal).where(RefundProposal.business_date == d.day).limit(1))
        ).scalar_one()
    async with httpx.AsyncClient(base_url=live_server.url, headers=rd.stranger.headers) as c:
        page = await c.get(f"{BASE}/{d.day}")
        assert page.status_code == 200
        assert d.lot.code not in page.text and f'data-testid="discrepancy-{dup.id}"' not in page.text
        assert f'data-testid="discrepancy-{orphan.id}"' in page.text  # money for nobody known: platform-wide
        assert (await c.get(f"{BASE}/discrepancies/{dup.id}")).status_code == 404
        note = {"note": "not mine to explain"}
        assert (await c.post(f"/v1/reconciliation/discrepancies/{dup.id}/explain", json=note)).status_code == 404
        for verb in ("approve", "reject"):
            r = await c.post(f"/v1/reconciliation/refund-proposals/{proposal.id}/{verb}", json={"reason": "stranger"})
            assert r.status_code == 404, r.text
        theirs = "Khoản QR tĩnh của bãi chúng tôi"
        r = await c.post(f"/v1/reconciliation/discrepancies/{orphan.id}/explain", json={"note": theirs})
        assert r.status_code == 200
    async with httpx.AsyncClient(base_url=live_server.url, headers=mine.headers) as c:
        assert theirs not in (await c.get(f"{BASE}/discrepancies/{orphan.id}")).text  # one operator's note only
    async with sessionmaker() as db:
        p = await db.get(RefundProposal, proposal.id)
        assert p is not None and p.decided_by != f"staff:{rd.stranger.email}"
        owners = (
            await db.execute(
                select(DiscrepancyResolution.operator_id).where(
                    DiscrepancyResolution.business_date == d.day, DiscrepancyResolution.code == "orphan_credit"
                )
            )
        ).scalars()
        assert set(owners) == {rd.stranger.operator_id}
