"""Reconcile the demo's day on demand: ask the payment simulator to inject a few faults into what it served
today, download the bank statement and the settlement report it delivers (over HTTP, as a bank's SFTP/portal
would), import them and run the day. Used by `parking reconcile demo` and `POST /v1/reconciliation/demo`.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from parking.settings import get_settings
from reconciliation.formats import day_end
from reconciliation.importer import import_file
from reconciliation.service import run_day

DEMO_FAULTS = (
    "missing_credit",
    "duplicate_credit",
    "underpaid",
    "x100",
    "fee_at_source",
    "after_midnight",
    "settled_next_day",
    "refund_reversal",
    "truncated_reference",
    "spaced_reference",
    "static_qr",
    "transfer_late",
)
BANK_PROVIDER = "demo-bank"
DELIVERY_WAIT_S = 10.0
SETTLEMENT_PROVIDER = "sim"


async def _lose_one_notification(db: AsyncSession, sim: httpx.AsyncClient, day: date) -> str | None:
    """A driver paid a QR our records show unpaid (the bank credited us, the notification was lost)."""
    row = (
        await db.execute(
            text(
                """SELECT qr_payload, reference FROM payment_intents
                    WHERE status = 'expired' AND purpose = 'session'
                      AND (created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date = :d
                      -- still unpaid: not one an earlier demo already had paid and the reconciliation healed
                      AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.intent_id = payment_intents.id)
                    ORDER BY created_at LIMIT 1"""
            ),
            {"d": day},
        )
    ).first()
    if row is None:
        return None
    r = await sim.post("/vietqr/pay", json={"qr_payload": row.qr_payload, "channel": "sepay", "deliver": False})
    return str(row.reference) if r.status_code == 201 else None


async def settle_deliveries(sim: httpx.AsyncClient, cutoff: datetime, *, wait_s: float = DELIVERY_WAIT_S) -> int:
    """Wait until the notifications of what the simulator served before the cut-off have reached us (the
    bank's credit and our confirmation of one payment then sit on the same side of the cut); returns how many
    are still on their way when the bounded wait ends (a notification delayed on purpose, for instance)."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        r = await sim.get("/_deliveries/pending", params={"before": cutoff.isoformat()})
        r.raise_for_status()
        pending = int(r.json()["pending"])
        if pending == 0 or asyncio.get_running_loop().time() >= deadline:
            return pending
        await asyncio.sleep(0.05)


async def fetch_files(
    sim: httpx.AsyncClient, day: date, folder: Path, layout: str, *, until: datetime | None = None
) -> dict[str, Path]:
    cut = {"until": until.isoformat()} if until is not None else {}
    out: dict[str, Path] = {}
    for name, url, params in (
        ("statement", f"/reports/{day}/statement", {"layout": layout, "format": "xlsx", **cut}),
        ("settlement", f"/reports/{day}/settlement", {"provider": SETTLEMENT_PROVIDER, **cut}),
        ("next_day_statement", f"/reports/{day + timedelta(days=1)}/statement", {"layout": layout, "format": "xlsx"}),
    ):
        r = await sim.get(url, params=params)
        r.raise_for_status()
        path = folder / f"{name}-{day}.{'csv' if name == 'settlement' else 'xlsx'}"
        path.write_bytes(r.content)
        out[name] = path
    return out


async def reconcile_demo_day(
    db: AsyncSession, day: date, *, sim_url: str, layout: str = "vietcombank", inject: bool = True
) -> dict[str, Any]:
    config_dir = get_settings().config_dir
    async with httpx.AsyncClient(base_url=sim_url, timeout=30) as sim:
        injected: dict[str, Any] = {}
        if inject:
            r = await sim.post("/_file_faults/assign", json={"day": str(day), "modes": list(DEMO_FAULTS)})
            injected = r.json()
            lost = await _lose_one_notification(db, sim, day)
            if lost:
                injected.setdefault("assigned", {})["lost_notification"] = lost
        # The demo's day is usually today, with drivers still paying: the files are cut at one moment, as a
        # bank export taken now would be, and the day is reconciled up to that cut-off. A payment after it is
        # not missing at the bank: it belongs to the next files (the nightly run of the whole day).
        now = datetime.now(UTC)
        cutoff = now if now < day_end(day) else None
        pending = await settle_deliveries(sim, cutoff) if cutoff is not None else 0
        with tempfile.TemporaryDirectory(prefix="recon-demo-") as tmp:
            files = await fetch_files(sim, day, Path(tmp), layout, until=cutoff)
            imports = [
                await import_file(
                    db, provider=BANK_PROVIDER, kind="bank-statement", path=files["statement"],
                    config_dir=config_dir, preset=layout, covers_until=cutoff,
                ),
                await import_file(
                    db, provider=SETTLEMENT_PROVIDER, kind="settlement", path=files["settlement"],
                    config_dir=config_dir, covers_until=cutoff,
                ),
                await import_file(
                    db, provider=BANK_PROVIDER, kind="bank-statement", path=files["next_day_statement"],
                    config_dir=config_dir, preset=layout,
                ),
            ]  # fmt: skip
    summary = await run_day(db, day, trigger="demo")
    assert summary is not None
    return {
        "summary": summary,
        "injected": injected.get("assigned", {}),
        "imports": imports,
        "cutoff": cutoff.isoformat() if cutoff is not None else None,
        "notifications_pending_at_cutoff": pending,
    }
