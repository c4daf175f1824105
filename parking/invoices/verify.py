"""``parking invoices verify --date YYYY-MM-DD``: every paid sale has exactly one invoice, every invoice a
payment, and no invoice series has a gap or a duplicate. Anyone can run it; the tests run it too.

A parking sale is the SESSION, not the payment: a session paid (in one or several payments, through one or
both notification channels) has exactly one original invoice whose total is the session's fee, and its
adjustments point at that original (or its replacement). Monthly passes are checked per payment.

The day is the business day in Asia/Ho_Chi_Minh (GMT+7), the calendar the invoices are dated in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from parking.invoices.service import INVOICEABLE_PURPOSES, SESSION_PURPOSES
from parking.invoices.settings import get_invoice_settings
from parking.invoices.xml import VN_TZ
from parking.ledger.rules import RECEIVABLE
from parking.models import PAID_STATUSES

PAID = tuple(s.value for s in PAID_STATUSES)
MAX_LISTED = 100  # keep the report readable; counts stay exact


@dataclass
class VerifyReport:
    day: str
    payments_checked: int = 0
    sessions_checked: int = 0
    invoices_checked: int = 0
    series_checked: int = 0
    missing_invoice: list[dict[str, Any]] = field(default_factory=list)  # paid, no original invoice
    extra_invoices: list[dict[str, Any]] = field(default_factory=list)  # paid, more than one original
    unlinked_adjustments: list[dict[str, Any]] = field(default_factory=list)  # not linked to the sale's invoice
    invoices_without_payment: list[dict[str, Any]] = field(default_factory=list)
    amount_mismatch: list[dict[str, Any]] = field(default_factory=list)
    refunds_without_adjustment: list[dict[str, Any]] = field(default_factory=list)  # succeeded refunds
    gaps: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    # Not errors of our bookkeeping, but need a person: shown, and do not make the report unclean.
    rejected: list[dict[str, Any]] = field(default_factory=list)
    not_yet_accepted: int = 0
    # Issued (or sent) and still not accepted by the tax authority after the configured time: unclean.
    not_accepted_in_time: list[dict[str, Any]] = field(default_factory=list)
    sessions_not_settled: int = 0  # part-paid: invoiced once the rest arrives (or the debt is paid)

    @property
    def clean(self) -> bool:
        return not (
            self.missing_invoice
            or self.extra_invoices
            or self.unlinked_adjustments
            or self.invoices_without_payment
            or self.amount_mismatch
            or self.refunds_without_adjustment
            or self.gaps
            or self.duplicates
            or self.not_accepted_in_time
        )

    def to_dict(self) -> dict[str, Any]:
        return {"clean": self.clean, **asdict(self)}


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=VN_TZ)
    return start, start + timedelta(days=1)


async def _rows(db: AsyncSession, sql: str, **params: Any) -> list[dict[str, Any]]:
    res = await db.execute(text(sql), params)
    return [
        {k: (str(v) if not isinstance(v, int | str | bool | type(None)) else v) for k, v in r._mapping.items()}
        for r in res
    ]


async def verify_day(
    db: AsyncSession, day: date, *, now: datetime | None = None, accept_within: timedelta | None = None
) -> VerifyReport:
    start, end = day_bounds(day)
    now = now or datetime.now(UTC)
    if accept_within is None:
        accept_within = timedelta(minutes=get_invoice_settings().accept_within_min)
    p = {"start": start, "end": end, "paid": list(PAID), "purposes": list(INVOICEABLE_PURPOSES)}
    rep = VerifyReport(day=day.isoformat())

    rep.payments_checked = int(
        (
            await db.execute(
                text(
                    "SELECT count(*) FROM payments WHERE status = ANY(:paid) AND purpose = ANY(:purposes) "
                    "AND confirmed_at >= :start AND confirmed_at < :end"
                ),
                p,
            )
        ).scalar_one()
    )
    # Per paid session: sessions with a payment confirmed that day, the rest of their money from the ledger.
    per_session = await _rows(
        db,
        """
        WITH paid AS (
            SELECT pm.session_id, min(pm.id::text) AS payment_id, count(*) AS payments,
                   sum(pm.amount_vnd)::bigint AS received_vnd
              FROM payments pm
             WHERE pm.status = ANY(:paid) AND pm.purpose = ANY(:session_purposes) AND pm.session_id IS NOT NULL
               AND pm.confirmed_at >= :start AND pm.confirmed_at < :end
             GROUP BY pm.session_id
        ), owed AS (
            SELECT le.session_id, sum(lp.amount_vnd)::bigint AS outstanding_vnd,
                   (sum(lp.amount_vnd) FILTER (
                        WHERE le.kind = 'fee' OR le.reverses_key = 'fee:' || le.session_id::text))::bigint AS fee_vnd
              FROM ledger_entries le JOIN ledger_postings lp ON lp.entry_id = le.id
             WHERE lp.account = :receivable AND le.session_id IN (SELECT session_id FROM paid)
             GROUP BY le.session_id
        )
        SELECT paid.session_id, paid.payment_id, paid.payments, paid.received_vnd,
               coalesce(owed.fee_vnd, ps.fee_vnd) AS fee_vnd,
               coalesce(owed.outstanding_vnd, 0) AS outstanding_vnd, count(i.id) AS originals,
               min(i.mccqt) AS mccqt, min(i.total_vnd) AS invoiced_vnd, max(i.total_vnd) AS max_invoiced_vnd
          FROM paid
          JOIN parking_sessions ps ON ps.id = paid.session_id
          LEFT JOIN owed ON owed.session_id = paid.session_id
          LEFT JOIN invoices i ON i.session_id = paid.session_id AND i.kind = 'original'
         GROUP BY paid.session_id, paid.payment_id, paid.payments, paid.received_vnd, ps.fee_vnd,
                  owed.outstanding_vnd, owed.fee_vnd
        """,
        **p,
        session_purposes=list(SESSION_PURPOSES),
        receivable=RECEIVABLE,
    )
    rep.sessions_checked = len(per_session)
    settled = [r for r in per_session if r["outstanding_vnd"] <= 0 or r["originals"] > 0]
    rep.sessions_not_settled = len(per_session) - len(settled)
    rep.missing_invoice = [r for r in settled if r["originals"] == 0][:MAX_LISTED]
    rep.extra_invoices = [r for r in settled if r["originals"] > 1][:MAX_LISTED]
    rep.amount_mismatch = [
        r for r in settled if r["originals"] == 1 and r["fee_vnd"] is not None and r["invoiced_vnd"] != r["fee_vnd"]
    ][:MAX_LISTED]
    # Passes (and any other sale without a session): one original per payment, for what was paid.
    per_payment = await _rows(
        db,
        """
        SELECT pm.id AS payment_id, pm.session_id, pm.amount_vnd, count(i.id) AS originals,
               min(i.mccqt) AS mccqt, min(i.total_vnd) AS invoiced_vnd
          FROM payments pm
          LEFT JOIN invoices i ON i.payment_id = pm.id AND i.kind = 'original'
         WHERE pm.status = ANY(:paid) AND pm.purpose = ANY(:purposes) AND NOT (pm.purpose = ANY(:session_purposes))
           AND pm.confirmed_at >= :start AND pm.confirmed_at < :end
         GROUP BY pm.id
        HAVING count(i.id) <> 1 OR min(i.total_vnd) <> pm.amount_vnd
    """,
        **p,
        session_purposes=list(SESSION_PURPOSES),
    )
    rep.missing_invoice += [r for r in per_payment if r["originals"] == 0][:MAX_LISTED]
    rep.extra_invoices += [r for r in per_payment if r["originals"] > 1][:MAX_LISTED]
    rep.amount_mismatch += [r for r in per_payment if r["originals"] == 1][:MAX_LISTED]
    rep.unlinked_adjustments = await _rows(
        db,
        """
        SELECT a.session_id, a.mccqt, a.related_invoice_id
          FROM invoices a
         WHERE a.kind = 'adjustment' AND a.session_id IS NOT NULL
           AND a.issued_at >= :start AND a.issued_at < :end
           AND NOT EXISTS (SELECT 1 FROM invoices o WHERE o.id = a.related_invoice_id
                            AND o.session_id = a.session_id AND o.kind IN ('original', 'replacement'))
         LIMIT 100
    """,
        **p,
    )

    rep.invoices_checked = int(
        (
            await db.execute(text("SELECT count(*) FROM invoices WHERE issued_at >= :start AND issued_at < :end"), p)
        ).scalar_one()
    )
    rep.invoices_without_payment = await _rows(
        db,
        """
        SELECT i.mccqt, i.kind, i.payment_id, pm.status AS payment_status, pm.purpose
          FROM invoices i LEFT JOIN payments pm ON pm.id = i.payment_id
         WHERE i.issued_at >= :start AND i.issued_at < :end
           AND (pm.id IS NULL OR NOT (pm.status = ANY(:paid)) OR NOT (pm.purpose = ANY(:purposes)))
         LIMIT 100
    """,
        **p,
    )
    rep.refunds_without_adjustment = await _rows(
        db,
        """
        SELECT r.id AS refund_id, r.payment_id, r.amount_vnd
          FROM refunds r
          JOIN invoices o ON o.payment_id = r.payment_id AND o.kind = 'original'
          LEFT JOIN invoices a ON a.refund_id = r.id
         WHERE r.created_at >= :start AND r.created_at < :end AND r.status = 'succeeded' AND a.id IS NULL
           AND r.amount_vnd > r.credit_vnd
         LIMIT 100
    """,
        **p,
    )

    # Gaps and duplicates over the whole of every series that issued on that day: 1..next_seq-1 must
    # each be used exactly once.
    series = await _rows(
        db,
        """
        SELECT s.id, s.symbol, s.series_code, s.year, s.next_seq FROM invoice_series s
         WHERE EXISTS (SELECT 1 FROM invoices i WHERE i.series_id = s.id
                        AND i.issued_at >= :start AND i.issued_at < :end)
    """,
        **p,
    )
    rep.series_checked = len(series)
    for s in series:
        missing = await _rows(
            db,
            """
            SELECT n AS seq FROM generate_series(1, CAST(:last AS bigint)) AS n
             WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.series_id = :sid AND i.seq = n)
             ORDER BY n LIMIT 100
        """,
            last=s["next_seq"] - 1,
            sid=s["id"],
        )
        beyond = await _rows(
            db,
            "SELECT seq FROM invoices WHERE series_id = :sid AND seq >= :next",
            sid=s["id"],
            next=s["next_seq"],
        )
        if missing or beyond:
            rep.gaps.append(
                {
                    "series": f"{s['series_code']}/{s['year']}",
                    "symbol": s["symbol"],
                    "missing": [m["seq"] for m in missing],
                    "beyond_counter": [b["seq"] for b in beyond],
                }
            )
        dups = await _rows(
            db,
            """
            SELECT seq, count(*) AS n FROM invoices WHERE series_id = :sid GROUP BY seq HAVING count(*) > 1
        """,
            sid=s["id"],
        )
        rep.duplicates += [{"series": f"{s['series_code']}/{s['year']}", **d} for d in dups]
    rep.duplicates += await _rows(
        db,
        """
        SELECT mccqt, count(*) AS n FROM invoices GROUP BY mccqt HAVING count(*) > 1
    """,
    )

    rep.rejected = await _rows(
        db,
        """
        SELECT mccqt, status_reason FROM invoices
         WHERE status = 'rejected' AND issued_at >= :start AND issued_at < :end LIMIT 100
    """,
        **p,
    )
    rep.not_yet_accepted = int(
        (
            await db.execute(
                text(
                    "SELECT count(*) FROM invoices WHERE status IN ('issued','sent') "
                    "AND issued_at >= :start AND issued_at < :end"
                ),
                p,
            )
        ).scalar_one()
    )
    rep.not_accepted_in_time = await _rows(
        db,
        """
        SELECT i.mccqt, i.kind, i.status, i.issued_at, i.attempts,
               (SELECT m.last_error FROM outbox m WHERE m.key = 'invoice.transmit:' || i.id::text) AS last_error
          FROM invoices i
         WHERE i.status IN ('issued', 'sent') AND i.issued_at >= :start AND i.issued_at < :end
           AND i.issued_at < :deadline
         ORDER BY i.issued_at LIMIT 100
    """,
        **p,
        deadline=now - accept_within,
    )
    return rep


async def verify_url(db_url: str, day: date) -> VerifyReport:
    from parking.kit.db import make_engine, make_sessionmaker

    engine = make_engine(db_url, 2)
    try:
        async with make_sessionmaker(engine)() as db:
            return await verify_day(db, day)
    finally:
        await engine.dispose()
