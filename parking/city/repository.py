"""SQL of the city feed: lots with capacities, and daily aggregates per lot (local day, Asia/Ho_Chi_Minh)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# One row per lot; every figure counted over [start, end) of the local day. Payments are all cashless here;
# revenue is what was confirmed that day net of what was refunded of it.
_AGGREGATES = """
SELECT l.id, l.code, l.name,
  (SELECT count(*) FROM parking_sessions s WHERE s.lot_id = l.id AND s.entry_at >= :start AND s.entry_at < :end)
    AS entries,
  (SELECT count(*) FROM parking_sessions s WHERE s.lot_id = l.id AND s.exit_at >= :start AND s.exit_at < :end)
    AS exits,
  (SELECT coalesce(sum(p.amount_vnd - p.refunded_vnd), 0) FROM payments p JOIN parking_sessions s
     ON s.id = p.session_id
   WHERE s.lot_id = l.id AND p.status IN ('confirmed','partially_refunded','refunded')
     AND p.confirmed_at >= :start AND p.confirmed_at < :end) AS cashless_revenue_vnd,
  (SELECT count(*) FROM invoices i JOIN parking_sessions s ON s.id = i.session_id
   WHERE s.lot_id = l.id AND i.issued_at >= :start AND i.issued_at < :end) AS invoices_issued,
  (SELECT count(*) FROM disputes d WHERE d.lot_id = l.id AND d.created_at >= :start AND d.created_at < :end)
    AS disputes,
  (SELECT count(*) FROM lot_reports r WHERE r.lot_id = l.id AND r.kind = 'cash_requested'
     AND r.created_at >= :start AND r.created_at < :end) AS cash_collection_reports,
  (SELECT count(*) FROM lot_reports r WHERE r.lot_id = l.id AND r.kind NOT IN ('rating','cash_requested')
     AND r.created_at >= :start AND r.created_at < :end) AS other_problem_reports,
  (SELECT count(*) FROM lot_reports r WHERE r.lot_id = l.id AND r.kind = 'rating'
     AND r.created_at >= :start AND r.created_at < :end) AS ratings,
  (SELECT avg(r.stars)::float FROM lot_reports r WHERE r.lot_id = l.id AND r.kind = 'rating'
     AND r.created_at >= :start AND r.created_at < :end) AS average_stars
FROM lots l
{where}
ORDER BY l.code
"""


async def daily_aggregates(
    db: AsyncSession, start: datetime, end: datetime, lot_code: str | None
) -> list[dict[str, Any]]:
    sql = _AGGREGATES.format(where="WHERE l.code = :code" if lot_code else "")
    params: dict[str, Any] = {"start": start, "end": end}
    if lot_code:
        params["code"] = lot_code
    return [dict(r._mapping) for r in (await db.execute(text(sql), params)).all()]
