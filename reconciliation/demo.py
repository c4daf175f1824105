"""Reconcile the demo's day on demand: ask the payment simulator to inject a few faults into what it served
today, download the bank statement and the settlement report it delivers (over HTTP, as a bank's SFTP/portal
would), import them and run the day. Used by `parking reconcile demo` and `POST /v1/reconciliation/demo`.
"""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from parking.settings import get_settings
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
SETTLEMENT_PROVIDER = "sim"


async def _lose_one_notification(db: AsyncSession, sim: httpx.AsyncClient, day: date) -> str | None:
    """A driver paid a QR our records show unpaid (the bank credited us, the notification was lost)."""
    row = (
        await db.execute(
            text(
                """SELECT qr_payload, reference FROM payment_intents
                    WHERE status = 'expired' AND purpose = 'session'
                      AND (created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date = :d
                    ORDER BY created_at LIMIT 1"""
            ),
            {"d": day},
        )
    ).first()
    if row is None:
        return None
    r = await sim.post("/vietqr/pay", json={"qr_payload": row.qr_payload, "channel": "sepay", "deliver": False})
    return str(row.reference) if r.status_code == 201 else None


async def fetch_files(sim: httpx.AsyncClient, day: date, folder: Path, layout: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for name, url, params in (
        ("statement", f"/reports/{day}/statement", {"layout": layout, "format": "xlsx"}),
        ("settlement", f"/reports/{day}/settlement", {"provider": SETTLEMENT_PROVIDER}),
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
        with tempfile.TemporaryDirectory(prefix="recon-demo-") as tmp:
            files = await fetch_files(sim, day, Path(tmp), layout)
            imports = [
                await import_file(
                    db, provider=BANK_PROVIDER, kind="bank-statement", path=files["statement"],
                    config_dir=config_dir, preset=layout,
                ),
                await import_file(
                    db, provider=SETTLEMENT_PROVIDER, kind="settlement", path=files["settlement"], config_dir=config_dir
                ),
                await import_file(
                    db, provider=BANK_PROVIDER, kind="bank-statement", path=files["next_day_statement"],
                    config_dir=config_dir, preset=layout,
                ),
            ]  # fmt: skip
    summary = await run_day(db, day, trigger="demo")
    assert summary is not None
    return {"summary": summary, "injected": injected.get("assigned", {}), "imports": imports}
