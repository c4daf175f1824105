"""Console pages over HTTP: login, each page renders for the roles that may open it, actions are audited."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import AuditLog, LaneOverride, ParkingSession
from tests.factories import LotHandle, event, make_lot, make_staff
from tests.parking.console.helpers import console_login


async def test_pages_render_in_vietnamese_then_english(
    live_server: object, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = await make_staff(sessionmaker, lot.operator_id, "admin")
    async with httpx.AsyncClient(base_url=live_server.url) as c:  # type: ignore[attr-defined]
        assert (await c.get("/console")).status_code == 303
        await console_login(c, admin.email, admin.password)
        await c.post("/v1/gate/events", json=event("entry", "30A-246.80"), headers=lot.entry.headers)
        for path in (
            "/console",
            "/console/review",
            "/console/alerts",
            "/console/finance",
            "/console/finance/invoices?plate=30A",
        ):
            r = await c.get(path)
            assert r.status_code == 200, (path, r.text[:3000])
            assert 'lang="vi"' in r.text
        home = (await c.get("/console")).text
        assert "Tổng quan" in home and lot.code in home and "30A24680" in home
        r = await c.get("/console/lang/en", headers={"referer": f"{c.base_url}/console"})
        assert r.status_code == 303
        home = (await c.get("/console")).text
        assert 'lang="en"' in home and "Overview" in home


async def _sse_until(c: httpx.AsyncClient, url: str, headers: dict[str, str], want: str, trigger: Any) -> str:
    """Read the stream until `want` shows up (after `trigger` ran once the stream is open); returns what was read."""
    seen = ""
    async with c.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200
        lines = r.aiter_lines()
        async for line in lines:
            seen += line + "\n"
            if line.startswith("event: hello"):
                await trigger()
            if want in seen:
                break
    return seen


async def test_console_stream_only_carries_own_lots(
    live_server: object, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await make_lot(sessionmaker, capacities={"car_small": 5})
    me = await make_staff(sessionmaker, lot.operator_id, "operator")

    async def trigger() -> None:
        async with httpx.AsyncClient(base_url=live_server.url) as g:  # type: ignore[attr-defined]
            # The other operator's car first: had it leaked, it would be read before ours.
            await g.post("/v1/gate/events", json=event("entry", "51A-111.22"), headers=other.entry.headers)
            await g.post("/v1/gate/events", json=event("entry", "30A-333.44"), headers=lot.entry.headers)

    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as c:  # type: ignore[attr-defined]
        seen = await asyncio.wait_for(_sse_until(c, "/console/stream", me.headers, "30A33344", trigger), 20)
    assert f"occ-{lot.id}-car_small" in seen and "30A33344" in seen
    assert str(other.id) not in seen and "51A11122" not in seen


async def test_override_is_audited_and_sent_on_the_lane_command_stream(
    live_server: object, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup = await make_staff(sessionmaker, lot.operator_id, "supervisor")
    op = await make_staff(sessionmaker, lot.operator_id, "operator")
    url = f"/console/lanes/{lot.exit.id}/override"
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as c:  # type: ignore[attr-defined]
        assert (await c.post(url, data={"reason": "x"}, headers=op.headers)).status_code == 403
        assert (await c.post(url, data={"reason": ""}, headers=sup.headers)).status_code == 422

        async def trigger() -> None:
            r = await c.post(
                url,
                data={"reason": "reader failed, ticket checked"},
                files={"photo": ("p.jpg", b"\xff\xd8fakejpeg", "image/jpeg")},
                headers=sup.headers,
            )
            assert r.status_code == 303, r.text

        seen = await asyncio.wait_for(
            _sse_until(c, "/v1/gate/commands", lot.exit.headers, "override: reader failed", trigger), 20
        )
    assert '"type": "open"' in seen or '"type":"open"' in seen
    async with sessionmaker() as db:
        rows = (await db.execute(select(AuditLog).where(AuditLog.entity_id == str(lot.exit.id)))).scalars().all()
        [o] = (await db.execute(select(LaneOverride).where(LaneOverride.lane_id == lot.exit.id))).scalars().all()
    assert [a.action for a in rows] == ["lane.override_open"]
    assert rows[0].actor.startswith(f"staff:{sup.email}") and rows[0].data["reason"] == "reader failed, ticket checked"
    assert o.reason == "reader failed, ticket checked" and o.photo == b"\xff\xd8fakejpeg"
    finance = await make_staff(sessionmaker, lot.operator_id, "finance")
    async with httpx.AsyncClient(base_url=live_server.url) as c:  # type: ignore[attr-defined]
        report = (await c.get("/console/finance", headers=finance.headers)).text
    assert "reader failed, ticket checked" in report and f"staff:{sup.email}" in report  # visible in reports


async def test_review_confirm_recomputes_the_fee_through_the_pricing_engine_and_is_audited(
    live_server: object, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup = await make_staff(sessionmaker, lot.operator_id, "supervisor")
    now = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as c:  # type: ignore[attr-defined]
        r = await c.post("/v1/gate/events", json=event("entry", "30A-555.66", at=now - timedelta(hours=3)),
                         headers=lot.entry.headers)  # fmt: skip
        sid = r.json()["session_id"]
        r = await c.post("/v1/gate/events", json=event("exit", "30A-555.66", at=now), headers=lot.exit.headers)
        fee = r.json()["fee_vnd"]
        assert fee > 0
        async with sessionmaker() as db:
            await db.execute(
                update(ParkingSession)
                .where(ParkingSession.id == uuid.UUID(sid))
                .values(review_status="pending", review_reason="low_confidence", fee_vnd=fee + 1000)
            )
            await db.commit()
        page = (await c.get("/console/review", headers=sup.headers)).text
        assert f'data-testid="review-{sid}"' in page
        # Confirm: the pricing engine recomputes the fee (the stored one was wrong), nothing was paid yet.
        r = await c.post(
            f"/console/review/{sid}", data={"action": "confirm", "reason": "read checked"}, headers=sup.headers
        )
        assert r.status_code == 303, r.text
        async with sessionmaker() as db:
            s = await db.get(ParkingSession, uuid.UUID(sid))
            assert s is not None and s.fee_vnd == fee and s.review_status == "resolved"
            audit = (
                (await db.execute(select(AuditLog).where(AuditLog.entity_id == sid).order_by(AuditLog.id)))
                .scalars()
                .all()
            )
        assert [a.action for a in audit][-1] == "review.confirm"
        assert audit[-1].data["before"]["fee_vnd"] == fee + 1000 and audit[-1].data["after"]["fee_vnd"] == fee


async def test_review_queue_sorts_unknown_entries_and_double_visits(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    op = await make_staff(sessionmaker, lot.operator_id, "operator")
    await client.post("/v1/gate/events", json=event("exit", "30A-909.09"), headers=lot.exit.headers)  # never entered
    await client.post("/v1/gate/events", json=event("entry", "30A-808.08"), headers=lot.entry.headers)
    await client.post("/v1/gate/events", json=event("entry", "30A-808.08"), headers=lot.entry.headers)  # again
    items = {it["session"].plate or it["session"].exit_plate: it["kinds"] for it in await _queue(sessionmaker, op)}
    assert "unknown_entry" in items["30A90909"]
    assert "double_visit" in items["30A80808"]
    page = (await client.get("/console/review", headers=op.headers)).text
    assert "không rõ lượt vào" in page and "nghi hai lượt gửi" in page


async def _queue(sm: async_sessionmaker[AsyncSession], staff: Any) -> list[dict[str, Any]]:
    from parking.console.service import review_queue
    from parking.models import StaffUser
    from parking.staff.service import principal

    async with sm() as db:
        user = await db.get(StaffUser, staff.id)
        assert user is not None
        me = await principal(db, user, role=user.role, via="token")
        return await review_queue(db, me)


async def test_new_alerts_reach_open_consoles_of_their_operator_only(
    live_server: object, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from parking.console.alerts import raise_alert

    other = await make_lot(sessionmaker, capacities={"car_small": 1})
    me = await make_staff(sessionmaker, lot.operator_id, "operator")

    async def trigger() -> None:
        async with sessionmaker() as db:  # the other operator's alert first: had it leaked, it would come first
            for target, text in ((other, "THEIRS-ALERT"), (lot, "OURS-ALERT")):
                await raise_alert(
                    db, operator_id=target.operator_id, lot_id=target.id, kind="lane_offline", severity="critical",
                    message=f"{target.code} {text}", dedupe_key=f"sse-test:{uuid.uuid4()}",
                )  # fmt: skip
            await db.commit()  # the outbox worker publishes them to the consoles (and the webhook, if any)

    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as c:  # type: ignore[attr-defined]
        seen = await asyncio.wait_for(_sse_until(c, "/console/stream", me.headers, "OURS-ALERT", trigger), 20)
    assert "event: alert" in seen and "THEIRS-ALERT" not in seen
