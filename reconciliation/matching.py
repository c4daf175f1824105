"""The rules of `reconciliation.rules`, carried out set-based in PostgreSQL for one business day.

Each step is one statement (joins, window functions, INSERT ... SELECT); no per-row Python. Intermediate
sets are temporary tables dropped at commit. Runs in the caller's transaction, never commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from reconciliation.formats import day_end, day_start
from reconciliation.rules import PARTIAL_BODY_LEN, SUGGESTED_ACTION
from reconciliation.settings import ReconSettings

PAID = ["confirmed", "partially_refunded", "refunded"]
PARTIAL_LEN = 2 + PARTIAL_BODY_LEN
# A payment the reconciliation itself booked (healing) is evidence of a finding, never an expectation.
NOT_HEALED = "coalesce(p.raw->>'source', '') <> 'reconciliation'"


@dataclass(frozen=True)
class DayParams:
    day: date
    lo: datetime
    hi: datetime
    s: ReconSettings
    # End of the window our own records are held to: the day's end, or the cut-off of files exported during
    # the day (a payment made after the bank's export cannot be on it: it belongs to the next files).
    until: datetime | None = None

    @property
    def end(self) -> datetime:
        return self.hi if self.until is None else min(self.until, self.hi)

    def bind(self) -> dict[str, Any]:
        s = self.s
        return {
            "d": self.day,
            "lo": self.lo,
            "hi": self.hi,
            "until": self.end,
            "ilo": self.lo - timedelta(hours=s.window_after_h),
            "before": timedelta(minutes=s.window_before_min),
            "after": timedelta(hours=s.window_after_h),
            "fb": timedelta(minutes=s.fallback_min),
            "cutoff": timedelta(minutes=s.late_cutoff_min),
            "tlimit": timedelta(hours=s.transfer_limit_h),
            "sp": list(s.statement_providers),
            "paid": PAID,
        }


def params(day: date, s: ReconSettings, until: datetime | None = None) -> DayParams:
    return DayParams(day, day_start(day), day_end(day), s, until)


async def window_end(db: AsyncSession, day: date) -> datetime | None:
    """The cut-off the day's imported files cover, None for the whole day.

    Per kind of file (bank statement, settlement report) the latest coverage counts (a full-day file imported
    later closes the day); across kinds the earliest (a payment is only expected where every file reaches).
    A file cut during the day belongs to the day of its cut-off; a whole-day file to the day of its lines.
    """
    lo, hi = day_start(day), day_end(day)
    cut = (
        await db.execute(
            text("SELECT EXISTS (SELECT 1 FROM recon_files WHERE covers_until >= :lo AND covers_until < :hi)"),
            {"lo": lo, "hi": hi},
        )
    ).scalar()
    if not cut:  # the usual night: no file of this day was cut during it
        return None
    row = (
        await db.execute(
            text(
                """SELECT min(c) FROM (
                     SELECT max(coalesce(f.covers_until, :hi)) AS c FROM recon_files f
                      WHERE (f.covers_until >= :lo AND f.covers_until < :hi)
                         OR (f.covers_until IS NULL AND (
                               EXISTS (SELECT 1 FROM recon_statement_lines l
                                        WHERE l.file_id = f.id AND l.business_date = :d)
                            OR EXISTS (SELECT 1 FROM recon_settlement_batches b
                                        WHERE b.file_id = f.id AND b.settlement_date = :d)))
                      GROUP BY f.kind) k"""
            ),
            {"d": day, "lo": lo, "hi": hi},
        )
    ).scalar()
    return row if row is not None and row < hi else None


async def _x(db: AsyncSession, sql: str, p: dict[str, Any]) -> int:
    res = await db.execute(text(sql), p)
    return int(getattr(res, "rowcount", 0) or 0)


async def clear_day(db: AsyncSession, day: date) -> None:
    for t in ("recon_matches", "recon_discrepancies"):
        await db.execute(text(f"DELETE FROM {t} WHERE business_date = :d"), {"d": day})


async def match_statement(db: AsyncSession, dp: DayParams) -> None:
    p = dp.bind()
    for t in ("rc_lines", "rc_intents", "rc_pay", "rc_transfer", "rc_cand", "rc_left"):
        await db.execute(text(f"DROP TABLE IF EXISTS {t}"))
    await _x(
        db,
        """CREATE TEMP TABLE rc_lines ON COMMIT DROP AS
           SELECT id, amount_vnd, booked_at, tokens, partial_tokens
             FROM recon_statement_lines WHERE business_date = :d AND direction = 'credit'""",
        p,
    )
    await db.execute(text("ANALYZE rc_lines"))  # temporary tables have no statistics until analysed
    # Every VietQR intent that a credit of this day may pay: shown up to the window before the day.
    await _x(
        db,
        """CREATE TEMP TABLE rc_intents ON COMMIT DROP AS
           SELECT id, reference, amount_vnd, created_at FROM payment_intents
            WHERE created_at >= :ilo AND created_at < :hi""",
        p,
    )
    await db.execute(text("ANALYZE rc_intents"))
    await _x(
        db,
        f"""CREATE TEMP TABLE rc_pay ON COMMIT DROP AS
            SELECT DISTINCT ON (p.intent_id) p.intent_id, p.id, p.raw->>'statement_line_id' AS healed_line
              FROM payments p JOIN rc_intents i ON i.id = p.intent_id
             WHERE p.status = ANY(:paid) ORDER BY p.intent_id, ({NOT_HEALED}) DESC, p.confirmed_at, p.id""",
        p,
    )
    # The intermediaries' day transfers: the batch id is in the narrative of a credit without a reference.
    await _x(
        db,
        """CREATE TEMP TABLE rc_transfer ON COMMIT DROP AS
           SELECT DISTINCT ON (l.id) l.id AS line_id, b.id AS batch_pk
             FROM rc_lines l JOIN recon_statement_lines sl ON sl.id = l.id
             JOIN recon_settlement_batches b
               ON regexp_replace(upper(sl.narrative), '[^A-Z0-9]', '', 'g')
                  LIKE '%' || regexp_replace(upper(b.batch_id), '[^A-Z0-9]', '', 'g') || '%'
            WHERE cardinality(l.tokens) = 0
            ORDER BY l.id, b.id""",
        p,
    )
    # rules.match step 1: each line picks one intent (amount equal first, full before partial, smallest key).
    await _x(
        db,
        f"""CREATE TEMP TABLE rc_cand ON COMMIT DROP AS
            WITH f AS MATERIALIZED (
                SELECT l.id AS line_id, i.id AS intent_id, 0 AS tier, (l.amount_vnd <> i.amount_vnd) AS diff,
                       l.booked_at
                  FROM rc_lines l CROSS JOIN LATERAL unnest(l.tokens) AS t(tok)
                  JOIN rc_intents i ON i.reference = t.tok
                 WHERE l.booked_at BETWEEN i.created_at - CAST(:before AS interval)
                                       AND i.created_at + CAST(:after AS interval)
            ), rest AS MATERIALIZED (
                -- the few lines no full reference matched, first: partial tokens of a million lines are not
                -- unnested and joined for nothing
                SELECT l.id, l.amount_vnd, l.booked_at, l.partial_tokens FROM rc_lines l
                 WHERE cardinality(l.partial_tokens) > 0 AND NOT EXISTS (SELECT 1 FROM f WHERE f.line_id = l.id)
            ), pt AS (
                SELECT l.id AS line_id, i.id AS intent_id, 1 AS tier, (l.amount_vnd <> i.amount_vnd) AS diff,
                       l.booked_at
                  FROM rest l CROSS JOIN LATERAL unnest(l.partial_tokens) AS t(tok)
                  JOIN rc_intents i ON left(i.reference, {PARTIAL_LEN}) = t.tok
                 WHERE l.booked_at BETWEEN i.created_at - CAST(:before AS interval)
                                       AND i.created_at + CAST(:after AS interval)
            )
            SELECT DISTINCT ON (line_id) line_id, intent_id, tier, diff, booked_at
              FROM (SELECT * FROM f UNION ALL SELECT * FROM pt) c
             ORDER BY line_id, diff, tier, intent_id""",
        p,
    )
    await db.execute(text("ANALYZE rc_cand"))
    # Step 2: each intent takes its lines in (amount equal, time, key) order: first = match, rest = duplicates.
    await _x(
        db,
        """INSERT INTO recon_matches (business_date, source, line_id, payment_id, intent_id, outcome, tier)
           SELECT :d, 'statement', r.line_id, pay.id, r.intent_id,
                  CASE WHEN r.rn > 1 THEN 'duplicate' WHEN NOT r.diff THEN 'matched' ELSE 'amount_mismatch' END,
                  CASE r.tier WHEN 0 THEN 'full' ELSE 'partial' END
             FROM (SELECT c.*, row_number() OVER (PARTITION BY c.intent_id ORDER BY c.diff, c.booked_at, c.line_id)
                          AS rn
                     FROM rc_cand c) r  -- (the line's time came along: no second join with a million lines)
             LEFT JOIN rc_pay pay ON pay.intent_id = r.intent_id""",
        p,
    )
    await _x(
        db,
        """INSERT INTO recon_matches (business_date, source, line_id, payment_id, intent_id, outcome, tier)
           SELECT :d, 'statement', t.line_id, NULL, NULL, 'transfer', 'batch' FROM rc_transfer t""",
        p,
    )
    # Step 3: the remaining credits get a fall-back hint (amount + narrow time) among the unmatched intents.
    await _x(
        db,
        """CREATE TEMP TABLE rc_left ON COMMIT DROP AS
           SELECT i.id, i.amount_vnd, i.created_at FROM rc_intents i
            WHERE NOT EXISTS (SELECT 1 FROM rc_cand c WHERE c.intent_id = i.id)""",
        p,
    )
    await db.execute(text("CREATE INDEX ON rc_left (amount_vnd, created_at)"))
    await db.execute(text("ANALYZE rc_left"))
    await _x(
        db,
        """INSERT INTO recon_matches (business_date, source, line_id, payment_id, intent_id, outcome, tier)
           SELECT :d, 'statement', l.id, NULL, h.id,
                  CASE WHEN h.id IS NULL THEN 'orphan' ELSE 'review' END,
                  CASE WHEN h.id IS NULL THEN 'none' ELSE 'fallback' END
             FROM rc_lines l
             LEFT JOIN LATERAL (
                  SELECT i.id FROM rc_left i
                   WHERE i.amount_vnd = l.amount_vnd
                     AND i.created_at BETWEEN l.booked_at - CAST(:fb AS interval)
                                         AND l.booked_at + CAST(:fb AS interval)
                   ORDER BY abs(extract(epoch FROM l.booked_at - i.created_at)), i.id LIMIT 1) h ON true
            WHERE NOT EXISTS (SELECT 1 FROM rc_cand c WHERE c.line_id = l.id)
              AND NOT EXISTS (SELECT 1 FROM rc_transfer t WHERE t.line_id = l.id)""",
        p,
    )
    # Debits naming one of our references: a refund we made, or a reversal we did not.
    await _x(
        db,
        """INSERT INTO recon_matches (business_date, source, line_id, payment_id, intent_id, outcome, tier)
           SELECT :d, 'statement', l.id, pay.id, i.id,
                  CASE WHEN coalesce(r.done, 0) >= l.amount_vnd THEN 'refund' ELSE 'reversal' END, 'full'
             FROM recon_statement_lines l
             JOIN LATERAL (SELECT pi.id FROM payment_intents pi WHERE pi.reference = ANY(l.tokens)
                            ORDER BY pi.id LIMIT 1) i ON true
             LEFT JOIN LATERAL (SELECT pm.id FROM payments pm WHERE pm.intent_id = i.id AND pm.status = ANY(:paid)
                                 ORDER BY pm.confirmed_at, pm.id LIMIT 1) pay ON true
             LEFT JOIN LATERAL (SELECT sum(rf.amount_vnd) AS done FROM refunds rf
                                 WHERE rf.payment_id = pay.id AND rf.status IN ('pending', 'succeeded')) r ON true
            WHERE l.business_date = :d AND l.direction = 'debit' AND cardinality(l.tokens) > 0""",
        p,
    )


async def match_settlement(db: AsyncSession, dp: DayParams) -> None:
    """Settlement report lines of the day's transactions, matched to payments by the provider's txn id."""
    p = dp.bind()
    await _x(
        db,
        """INSERT INTO recon_matches (business_date, source, line_id, payment_id, intent_id, outcome, tier)
           SELECT :d, 'settlement', s.id, pm.id, pm.intent_id,
                  CASE
                    WHEN s.kind = 'refund' THEN
                      CASE WHEN coalesce((SELECT sum(rf.amount_vnd) FROM refunds rf WHERE rf.payment_id = pm.id
                                           AND rf.status IN ('pending', 'succeeded')), 0) >= s.refund_vnd
                           THEN 'refund' ELSE 'reversal' END
                    WHEN pm.id IS NULL AND s.status = 'success' AND EXISTS (
                         SELECT 1 FROM recon_settlement_lines o JOIN payments q ON q.provider_txn_id = o.txn_id
                          WHERE o.reference = s.reference AND o.kind = 'payment' AND o.id <> s.id
                            AND s.reference IS NOT NULL) THEN 'duplicate'
                    WHEN pm.id IS NULL AND s.status = 'success' THEN 'orphan'
                    WHEN pm.id IS NULL THEN 'ignored'
                    WHEN (s.status = 'success') <> (pm.status = ANY(:paid)) THEN 'status'
                    WHEN s.gross_vnd <> pm.amount_vnd THEN 'amount_mismatch'
                    WHEN s.settlement_date > :d THEN 'late'
                    ELSE 'matched'
                  END, 'txn'
             FROM recon_settlement_lines s
             LEFT JOIN LATERAL (SELECT q.id, q.intent_id, q.status, q.amount_vnd FROM payments q
                                 WHERE q.provider_txn_id = s.txn_id ORDER BY q.id LIMIT 1) pm ON true
            WHERE s.txn_at >= :lo AND s.txn_at < :hi""",
        p,
    )
    # The classification joins the day's matches: give the planner their real size.
    await db.execute(text("ANALYZE recon_matches"))


_EVIDENCE = """jsonb_strip_nulls(jsonb_build_object(
    'line', CASE WHEN l.id IS NOT NULL THEN jsonb_build_object('id', l.id, 'provider', l.provider,
        'booked_at', l.booked_at, 'amount_vnd', l.amount_vnd, 'direction', l.direction, 'bank_ref', l.bank_ref,
        'narrative', l.narrative, 'raw', l.raw) END,
    'settlement_line', CASE WHEN sl.id IS NOT NULL THEN jsonb_build_object('id', sl.id, 'provider', sl.provider,
        'txn_id', sl.txn_id, 'kind', sl.kind, 'status', sl.status, 'gross_vnd', sl.gross_vnd, 'fee_vnd', sl.fee_vnd,
        'net_vnd', sl.net_vnd, 'refund_vnd', sl.refund_vnd, 'settlement_date', sl.settlement_date, 'raw', sl.raw) END,
    'intent', CASE WHEN i.id IS NOT NULL THEN jsonb_build_object('id', i.id, 'reference', i.reference,
        'amount_vnd', i.amount_vnd, 'created_at', i.created_at, 'status', i.status) END,
    'payment', CASE WHEN pm.id IS NOT NULL THEN jsonb_build_object('id', pm.id, 'provider', pm.provider,
        'provider_txn_id', pm.provider_txn_id, 'amount_vnd', pm.amount_vnd, 'status', pm.status,
        'confirmed_at', pm.confirmed_at, 'healed_by_reconciliation', pm.raw->>'source' = 'reconciliation') END,
    'session', CASE WHEN ps.id IS NOT NULL THEN jsonb_build_object('id', ps.id, 'lot_id', ps.lot_id,
        'plate', ps.plate, 'fee_vnd', ps.fee_vnd, 'payment_status', ps.payment_status, 'exit_at', ps.exit_at) END,
    'match', jsonb_build_object('outcome', m.outcome, 'tier', m.tier)
))"""


async def classify(db: AsyncSession, dp: DayParams) -> None:
    p = dp.bind() | {"actions": json.dumps(SUGGESTED_ACTION)}
    cols = (
        "business_date, code, provider, lot_id, session_id, payment_id, intent_id, statement_line_id, "
        "settlement_line_id, expected_vnd, actual_vnd, evidence, action_vi, action_en"
    )
    act = "(CAST(:actions AS jsonb) -> {c} ->> 0), (CAST(:actions AS jsonb) -> {c} ->> 1)"
    # 1. what the matches say
    await _x(
        db,
        f"""INSERT INTO recon_discrepancies ({cols})
            SELECT :d, x.code, coalesce(l.provider, sl.provider), ps.lot_id, ps.id, pm.id, i.id, l.id, sl.id,
                   coalesce(i.amount_vnd, pm.amount_vnd), coalesce(l.amount_vnd, sl.gross_vnd + sl.refund_vnd),
                   {_EVIDENCE}, {act.format(c="x.code")}
              FROM recon_matches m
              LEFT JOIN recon_statement_lines l ON m.source = 'statement' AND l.id = m.line_id
              LEFT JOIN recon_settlement_lines sl ON m.source = 'settlement' AND sl.id = m.line_id
              LEFT JOIN payment_intents i ON i.id = m.intent_id
              LEFT JOIN payments pm ON pm.id = m.payment_id
              LEFT JOIN parking_sessions ps ON ps.id = coalesce(pm.session_id, i.session_id)
              CROSS JOIN LATERAL (SELECT CASE
                  WHEN m.source = 'statement' AND m.outcome IN ('matched', 'amount_mismatch')
                       AND (pm.id IS NULL OR pm.raw->>'statement_line_id' = m.line_id::text) THEN 'status_mismatch'
                  WHEN m.outcome = 'amount_mismatch' THEN 'amount_mismatch'
                  WHEN m.outcome = 'duplicate' THEN 'duplicate_credit'
                  WHEN m.outcome IN ('review', 'orphan') THEN 'orphan_credit'
                  WHEN m.outcome = 'reversal' THEN 'refund_reversal'
                  WHEN m.outcome = 'status' THEN 'status_mismatch'
                  WHEN m.outcome = 'late' THEN 'late_settlement'
              END AS code) x
             WHERE m.business_date = :d AND x.code IS NOT NULL
               -- a clean match with its own payment is no finding: skip the joins for the million of them
               AND (m.outcome <> 'matched' OR m.payment_id IS NULL OR m.source <> 'statement'
                    -- (one hashed look-up in the few healed payments match_statement found, not a million probes
                    -- into payments; the CASE above keeps only the one booked from this very line)
                    OR m.payment_id IN (SELECT hp.id FROM rc_pay hp WHERE hp.healed_line IS NOT NULL))""",
        p,
    )
    # 2. payments we confirmed with nothing on the bank statement: missing, or carried over near midnight
    await _x(
        db,
        f"""INSERT INTO recon_discrepancies ({cols})
            SELECT :d, x.code, pm.provider, ps.lot_id, ps.id, pm.id, i.id, NULL, NULL, pm.amount_vnd, 0,
                   jsonb_build_object('payment', jsonb_build_object('id', pm.id, 'provider', pm.provider,
                       'provider_txn_id', pm.provider_txn_id, 'amount_vnd', pm.amount_vnd,
                       'confirmed_at', pm.confirmed_at, 'raw', pm.raw),
                     'intent', jsonb_build_object('reference', i.reference, 'amount_vnd', i.amount_vnd),
                     'session', jsonb_build_object('id', ps.id, 'plate', ps.plate, 'lot_id', ps.lot_id),
                     'carried_from', x.carried_from, 'track', 'statement'),
                   {act.format(c="x.code")}
              FROM (
                SELECT p.id, CASE WHEN p.confirmed_at >= CAST(:hi AS timestamptz) - CAST(:cutoff AS interval)
                                    OR p.intent_id IN (SELECT i2.id FROM payment_intents i2
                                                         JOIN recon_statement_lines nl
                                                           ON nl.business_date > :d
                                                          AND nl.business_date <= CAST(:d AS date) + 2
                                                          AND nl.direction = 'credit'
                                                          AND i2.reference = ANY(nl.tokens))
                                  THEN 'late_settlement'
                                  ELSE 'missing_at_provider' END AS code, NULL::date AS carried_from
                  FROM payments p
                 WHERE p.provider = ANY(:sp) AND p.status = ANY(:paid) AND p.intent_id IS NOT NULL AND {NOT_HEALED}
                   AND p.confirmed_at >= :lo AND p.confirmed_at < :until
                   AND NOT EXISTS (SELECT 1 FROM recon_matches m WHERE m.intent_id = p.intent_id
                                    AND m.source = 'statement' AND m.outcome IN ('matched', 'amount_mismatch')
                                    AND m.business_date BETWEEN CAST(:d AS date) - 3 AND :d)
                UNION ALL
                SELECT d.payment_id, 'missing_at_provider', d.business_date
                  FROM recon_discrepancies d JOIN payments p ON p.id = d.payment_id
                 WHERE d.business_date = CAST(:d AS date) - 1 AND d.code = 'late_settlement'
                   AND d.statement_line_id IS NULL AND d.settlement_line_id IS NULL
                   AND NOT EXISTS (SELECT 1 FROM recon_matches m WHERE m.intent_id = p.intent_id
                                    AND m.source = 'statement' AND m.outcome IN ('matched', 'amount_mismatch')
                                    AND m.business_date BETWEEN CAST(:d AS date) - 3 AND :d)
              ) x
              JOIN payments pm ON pm.id = x.id
              LEFT JOIN payment_intents i ON i.id = pm.intent_id
              LEFT JOIN parking_sessions ps ON ps.id = pm.session_id""",
        p,
    )
    # 3. payments settled through an intermediary with no line in its report (when the day's report is in)
    await _x(
        db,
        f"""INSERT INTO recon_discrepancies ({cols})
            SELECT :d, 'missing_at_provider', pm.provider, ps.lot_id, ps.id, pm.id, pm.intent_id, NULL, NULL,
                   pm.amount_vnd, 0,
                   jsonb_build_object('payment', jsonb_build_object('id', pm.id, 'provider', pm.provider,
                       'provider_txn_id', pm.provider_txn_id, 'amount_vnd', pm.amount_vnd,
                       'confirmed_at', pm.confirmed_at), 'track', 'settlement'),
                   {act.format(c="'missing_at_provider'")}
              FROM payments pm LEFT JOIN parking_sessions ps ON ps.id = pm.session_id
             WHERE NOT (pm.provider = ANY(:sp)) AND pm.status = ANY(:paid) AND pm.provider_txn_id IS NOT NULL
               AND coalesce(pm.raw->>'source', '') <> 'reconciliation'
               AND pm.confirmed_at >= :lo AND pm.confirmed_at < :until
               AND EXISTS (SELECT 1 FROM recon_settlement_batches b WHERE b.settlement_date = :d)
               AND NOT EXISTS (SELECT 1 FROM recon_settlement_lines s
                                WHERE s.txn_id = pm.provider_txn_id AND s.kind = 'payment')""",
        p,
    )
    # 4. intermediaries that paid the operator more than 24 h after the settlement day
    await _x(
        db,
        f"""INSERT INTO recon_discrepancies ({cols})
            SELECT :d, 'transfer_late', b.provider, NULL, NULL, NULL, NULL, NULL, NULL, b.transfer_total_vnd,
                   b.transfer_total_vnd,
                   jsonb_build_object('batch', jsonb_build_object('batch_id', b.batch_id,
                       'settlement_date', b.settlement_date, 'transfer_at', b.transfer_at,
                       'transfer_total_vnd', b.transfer_total_vnd, 'raw', b.raw),
                     'hours_after_day_end',
                       round(extract(epoch FROM b.transfer_at - CAST(:hi AS timestamptz)) / 3600.0, 1)),
                   {act.format(c="'transfer_late'")}
              FROM recon_settlement_batches b
             WHERE b.settlement_date = :d AND b.transfer_at > CAST(:hi AS timestamptz) + CAST(:tlimit AS interval)""",
        p,
    )
    # 5. leakage per lot: vehicles out through the lanes vs sessions paid, owed, free or still being paid
    #    (rules.leakage): what is left drove out with no session behind it, which is how cash shows up
    await _x(
        db,
        f"""INSERT INTO recon_discrepancies ({cols})
            SELECT :d, 'leakage', NULL, ex.lot_id, NULL, NULL, NULL, NULL, NULL, ex.n, coalesce(ss.closed, 0),
                   jsonb_build_object('exits_counted', ex.n, 'sessions_closed', coalesce(ss.closed, 0),
                       'paid', coalesce(ss.paid, 0), 'debts', coalesce(ss.debts, 0), 'free', coalesce(ss.free, 0),
                       'pending', coalesce(ss.closed, 0) - coalesce(ss.paid, 0) - coalesce(ss.debts, 0)
                                  - coalesce(ss.free, 0),
                       'unexplained', ex.n - coalesce(ss.closed, 0)),
                   {act.format(c="'leakage'")}
              FROM (SELECT lot_id, count(*) AS n FROM gate_events
                     WHERE kind = 'exit' AND captured_at >= :lo AND captured_at < :until GROUP BY lot_id) ex
              LEFT JOIN (SELECT lot_id, count(*) AS closed,
                                count(*) FILTER (WHERE payment_status = 'paid') AS paid,
                                count(*) FILTER (WHERE payment_status = 'debt') AS debts,
                                count(*) FILTER (WHERE payment_status <> 'paid' AND payment_status <> 'debt'
                                                   AND coalesce(fee_vnd, 0) = 0) AS free
                           FROM parking_sessions
                          WHERE status = 'closed' AND exit_at >= :lo AND exit_at < :until GROUP BY lot_id) ss
                ON ss.lot_id = ex.lot_id
             WHERE ex.n > coalesce(ss.closed, 0)""",
        p,
    )


async def figures(db: AsyncSession, dp: DayParams) -> dict[str, Any]:
    """payments, matched and the amounts of the summary."""
    p = dp.bind()
    row = (
        await db.execute(
            text(
                f"""WITH exp AS (
                      SELECT p.id, p.intent_id, p.amount_vnd, p.provider = ANY(:sp) AS on_statement
                        FROM payments p
                       WHERE p.status = ANY(:paid) AND p.confirmed_at >= :lo AND p.confirmed_at < :until
                         AND {NOT_HEALED} AND (p.intent_id IS NOT NULL OR NOT (p.provider = ANY(:sp)))),
                    ms AS (SELECT DISTINCT intent_id FROM recon_matches
                            WHERE business_date BETWEEN CAST(:d AS date) - 3 AND :d AND source = 'statement'
                              AND outcome = 'matched' AND intent_id IS NOT NULL),
                    mp AS (SELECT DISTINCT payment_id FROM recon_matches
                            WHERE business_date BETWEEN CAST(:d AS date) - 3 AND :d AND source = 'settlement'
                              AND outcome = 'matched' AND payment_id IS NOT NULL)
                    SELECT count(*) AS payments, coalesce(sum(exp.amount_vnd), 0) AS expected,
                           count(*) FILTER (WHERE (exp.on_statement AND ms.intent_id IS NOT NULL)
                                               OR (NOT exp.on_statement AND mp.payment_id IS NOT NULL)) AS matched
                      FROM exp LEFT JOIN ms ON ms.intent_id = exp.intent_id LEFT JOIN mp ON mp.payment_id = exp.id"""
            ),
            p,
        )
    ).one()
    lines = (
        await db.execute(
            text(
                """WITH tr AS (SELECT line_id FROM recon_matches
                                WHERE business_date = :d AND source = 'statement' AND outcome = 'transfer')
                   SELECT coalesce(sum(l.amount_vnd) FILTER (WHERE l.direction = 'credit' AND tr.line_id IS NULL), 0)
                        - coalesce(sum(l.amount_vnd) FILTER (WHERE l.direction = 'debit'
                                                               AND cardinality(l.tokens) > 0), 0)
                     FROM recon_statement_lines l LEFT JOIN tr ON tr.line_id = l.id
                    WHERE l.business_date = :d"""
            ),
            p,
        )
    ).scalar_one()
    gateway = (
        await db.execute(
            text(
                """SELECT coalesce(sum(CASE WHEN s.kind = 'payment' AND s.status = 'success' THEN s.gross_vnd
                                            ELSE 0 END - s.refund_vnd), 0),
                          coalesce(sum(s.fee_vnd), 0)
                     FROM recon_settlement_lines s WHERE s.txn_at >= :lo AND s.txn_at < :hi"""
            ),
            p,
        )
    ).one()
    settled = (int(lines) + int(gateway[0]), int(gateway[1]))
    return {
        "payments": int(row.payments),
        "matched": int(row.matched),
        "expected_vnd": int(row.expected),
        "settled_vnd": int(settled[0]),
        "fees_vnd": int(settled[1]),
    }
