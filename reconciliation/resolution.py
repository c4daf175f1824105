"""Finance resolves what the nightly run found (issue 11.3): reads for the console's reconciliation pages (runs by
day, a day's discrepancies by class, one discrepancy with its raw lines, session and payments) and the audited
actions: mark a discrepancy explained (a mandatory note), approve or reject a refund proposal.

Scope, as the reconciliation endpoints read it (``report.row_scope``): a staff member sees the discrepancies of
their lots and those tied to no lot, session or payment (money that arrived for nobody known: platform-wide).
An explanation is recorded per operator (``recon_resolutions``), keyed by what the discrepancy is about, so it
survives a re-run of the day (which replaces the discrepancy rows). A refund proposal is acted on only by staff of
the lot it belongs to (its payment's, else its duplicate-credit discrepancy's session's): another's answers 404.

Never commits: the request boundary does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parking.audit.service import record as audit
from parking.kit.errors import AppError
from parking.models import AuditLog, DiscrepancyResolution, RefundProposal
from reconciliation.report import CLASS_VI, lots_param, payment_lot, row_scope
from reconciliation.rules import CLASS_CODES
from reconciliation.service import execute_proposal

NOTE_MIN = 5  # "ok" is not an explanation
NOTE_MAX = 2000

# What a discrepancy is about, stable across re-runs of its day (the row ids are not): the statement or settlement
# line, else the payment, the intermediary's batch, the lot (leakage), the QR.
SUBJECT_SQL = """CASE
    WHEN d.statement_line_id IS NOT NULL THEN 'stmt:' || d.statement_line_id
    WHEN d.settlement_line_id IS NOT NULL THEN 'settle:' || d.settlement_line_id
    WHEN d.payment_id IS NOT NULL THEN 'payment:' || d.payment_id
    WHEN d.code = 'transfer_late' THEN 'batch:' || coalesce(d.provider, '') || ':'
                                       || coalesce(d.evidence -> 'batch' ->> 'batch_id', '')
    WHEN d.lot_id IS NOT NULL THEN 'lot:' || d.lot_id
    WHEN d.intent_id IS NOT NULL THEN 'intent:' || d.intent_id
    ELSE 'row:' || d.id END"""

_RESOLVED = f"""LEFT JOIN recon_resolutions r ON r.operator_id = :op AND r.business_date = d.business_date
                 AND r.code = d.code AND r.subject = ({SUBJECT_SQL})"""

_DISCREPANCY_COLS = f"""d.id, d.business_date, d.code, d.provider, d.lot_id, d.session_id, d.payment_id, d.intent_id,
       d.statement_line_id, d.settlement_line_id, d.expected_vnd, d.actual_vnd, d.evidence, d.action_vi,
       d.action_en, ({SUBJECT_SQL}) AS subject, lo.code AS lot_code,
       r.status AS resolution, r.note AS resolution_note, r.resolved_by, r.resolved_at,
       rp.id AS proposal_id, rp.status AS proposal_status, rp.amount_vnd AS proposal_vnd"""

_DISCREPANCY_FROM = f"""FROM recon_discrepancies d
       LEFT JOIN lots lo ON lo.id = coalesce(d.lot_id,
            (SELECT s2.lot_id FROM parking_sessions s2 WHERE s2.id = d.session_id), {payment_lot("d.payment_id")})
       {_RESOLVED}
       LEFT JOIN recon_refund_proposals rp ON d.code = 'duplicate_credit'
            AND rp.statement_line_id = d.statement_line_id"""


def _scope(lot_ids: Sequence[uuid.UUID]) -> Any:
    return lots_param(lot_ids)


def _bind(sql: str, lot_ids: Sequence[uuid.UUID], **params: Any) -> Any:
    return text(sql).bindparams(_scope(lot_ids), **params)


async def runs(
    db: AsyncSession,
    *,
    operator_id: uuid.UUID,
    lot_ids: Sequence[uuid.UUID],
    until: date | None = None,
    limit: int = 31,
) -> list[dict[str, Any]]:
    """The latest reconciled days (up to `until`): the run's figures (platform-wide: the bank's statement is the
    platform's) and the discrepancies per class of the staff member's scope, with how many are explained."""
    rows = (
        (
            await db.execute(
                text(
                    "SELECT business_date, summary, runs, trigger, finished_at FROM recon_runs "
                    "WHERE CAST(:until AS date) IS NULL OR business_date <= CAST(:until AS date) "
                    "ORDER BY business_date DESC LIMIT :n"
                ),
                {"n": limit, "until": until},
            )
        )
        .mappings()
        .all()
    )
    days = [r["business_date"] for r in rows]
    counts: dict[date, dict[str, list[int]]] = {d: {} for d in days}
    if days:
        res = await db.execute(
            _bind(
                f"""SELECT d.business_date, d.code, count(*) AS n, count(r.id) AS explained
                      FROM recon_discrepancies d {_RESOLVED}
                     WHERE d.business_date = ANY(:days) AND {row_scope("d", lot_col="lot_id")}
                     GROUP BY d.business_date, d.code""",
                lot_ids,
            ),
            {"days": days, "op": operator_id},
        )
        for day, code, n, explained in res.all():
            counts[day][code] = [int(n), int(explained)]
    out = []
    for r in rows:
        per = counts[r["business_date"]]
        summary = dict(r["summary"])
        out.append(
            {
                "day": r["business_date"],
                "runs": r["runs"],
                "trigger": r["trigger"],
                "finished_at": r["finished_at"],
                "amounts": summary.get("amounts", {}),
                "payments": summary.get("payments", 0),
                "matched": summary.get("matched", 0),
                "healed": summary.get("healed", {}),
                "classes": {c: per.get(c, [0, 0])[0] for c in CLASS_CODES},
                "total": sum(v[0] for v in per.values()),
                "explained": sum(v[1] for v in per.values()),
            }
        )
    return out


async def day_view(
    db: AsyncSession, day: date, *, operator_id: uuid.UUID, lot_ids: Sequence[uuid.UUID]
) -> dict[str, Any] | None:
    """A reconciled day: its run's figures and its discrepancies (of the scope) grouped by class, in class order."""
    run = (
        (
            await db.execute(
                text("SELECT summary, runs, finished_at FROM recon_runs WHERE business_date = :d"), {"d": day}
            )
        )
        .mappings()
        .one_or_none()
    )
    if run is None:
        return None
    rows = (
        (
            await db.execute(
                _bind(
                    f"""SELECT {_DISCREPANCY_COLS} {_DISCREPANCY_FROM}
                         WHERE d.business_date = :d AND {row_scope("d", lot_col="lot_id")}
                         ORDER BY d.code, d.id""",
                    lot_ids,
                ),
                {"d": day, "op": operator_id},
            )
        )
        .mappings()
        .all()
    )
    groups: dict[str, list[dict[str, Any]]] = {c: [] for c in CLASS_CODES}
    for r in rows:
        groups.setdefault(r["code"], []).append(dict(r))
    return {
        "day": day,
        "summary": dict(run["summary"]),
        "runs": run["runs"],
        "finished_at": run["finished_at"],
        "groups": [(c, groups[c]) for c in groups if groups[c]],
        "total": len(rows),
        "explained": sum(1 for r in rows if r["resolution"]),
    }


async def _discrepancy(
    db: AsyncSession, discrepancy_id: int, *, operator_id: uuid.UUID, lot_ids: Sequence[uuid.UUID]
) -> dict[str, Any]:
    row = (
        (
            await db.execute(
                _bind(
                    f"""SELECT {_DISCREPANCY_COLS} {_DISCREPANCY_FROM}
                         WHERE d.id = :id AND {row_scope("d", lot_col="lot_id")}""",
                    lot_ids,
                ),
                {"id": discrepancy_id, "op": operator_id},
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:  # another operator's, or no such row (a re-run of its day gave it a new id)
        raise AppError("discrepancy_not_found", "No such discrepancy.", 404, {"id": discrepancy_id})
    return dict(row)


async def _one(db: AsyncSession, sql: str, **params: Any) -> dict[str, Any] | None:
    row = (await db.execute(text(sql), params)).mappings().one_or_none()
    return dict(row) if row else None


async def _all(db: AsyncSession, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in (await db.execute(text(sql), params)).mappings().all()]


async def detail(
    db: AsyncSession, discrepancy_id: int, *, operator_id: uuid.UUID, lot_ids: Sequence[uuid.UUID]
) -> dict[str, Any]:
    """One discrepancy with its evidence: the raw bank/settlement lines as imported (and their file), the session
    (plate, lot, times, fee, crops), its payments and refunds, the QR, the refund proposal and the history."""
    d = await _discrepancy(db, discrepancy_id, operator_id=operator_id, lot_ids=lot_ids)
    statement = settlement = session = intent = None
    if d["statement_line_id"] is not None:
        statement = await _one(
            db,
            """SELECT l.*, f.filename, f.imported_at, f.preset FROM recon_statement_lines l
                 JOIN recon_files f ON f.id = l.file_id WHERE l.id = :id""",
            id=d["statement_line_id"],
        )
    if d["settlement_line_id"] is not None:
        settlement = await _one(
            db,
            """SELECT l.*, f.filename, f.imported_at FROM recon_settlement_lines l
                 JOIN recon_files f ON f.id = l.file_id WHERE l.id = :id""",
            id=d["settlement_line_id"],
        )
    session_id = d["session_id"]
    if session_id is not None:
        session = await _one(
            db,
            """SELECT s.id, s.plate, s.exit_plate, s.vehicle_class, s.status, s.entry_at, s.exit_at, s.fee_vnd,
                      s.payment_status, s.entry_event_id, s.exit_event_id, l.code AS lot_code, l.name AS lot_name,
                      ee.has_image AS entry_image, ee.plate_read AS entry_read, ee.confidence AS entry_confidence,
                      xe.has_image AS exit_image, xe.plate_read AS exit_read, xe.confidence AS exit_confidence
                 FROM parking_sessions s JOIN lots l ON l.id = s.lot_id
                 LEFT JOIN gate_events ee ON ee.id = s.entry_event_id
                 LEFT JOIN gate_events xe ON xe.id = s.exit_event_id
                WHERE s.id = :id""",
            id=session_id,
        )
    if d["intent_id"] is not None:
        intent = await _one(
            db,
            "SELECT reference, amount_vnd, status, created_at, expires_at FROM payment_intents WHERE id = :id",
            id=d["intent_id"],
        )
    proposal = None
    if d["proposal_id"] is not None:
        proposal = (
            await db.execute(select(RefundProposal).where(RefundProposal.id == d["proposal_id"]))
        ).scalar_one_or_none()
    # the session's payments, the one the finding names, and the proposal's (a duplicate credit is booked apart,
    # with no session: the money a refund would give back)
    payment_ids = [str(x) for x in (d["payment_id"], proposal.payment_id if proposal else None) if x]
    payments = await _all(
        db,
        """SELECT p.id, p.provider, p.method, p.purpose, p.amount_vnd, p.status, p.provider_txn_id, p.bank_ref,
                  p.flags, p.confirmed_at, p.created_at,
                  (SELECT coalesce(sum(rf.amount_vnd), 0) FROM refunds rf WHERE rf.payment_id = p.id) AS refunded_vnd,
                  (SELECT i.mccqt FROM invoices i WHERE i.payment_id = p.id AND i.kind = 'original' LIMIT 1) AS mccqt
             FROM payments p
            WHERE p.id = ANY(CAST(:pids AS uuid[]))
               OR (CAST(:sid AS uuid) IS NOT NULL AND p.session_id = CAST(:sid AS uuid))
            ORDER BY p.created_at, p.id""",
        pids=payment_ids,
        sid=str(session_id) if session_id else None,
    )
    entity_ids = [_entity_id(d)] + ([str(d["proposal_id"])] if d["proposal_id"] else [])
    history = list(
        (
            await db.execute(
                select(AuditLog)
                .where(AuditLog.entity.in_(("recon_discrepancy", "refund_proposal", "recon")))
                .where(AuditLog.entity_id.in_([*entity_ids, *(f"proposal:{x}" for x in entity_ids)]))
                # an explanation is its operator's: another operator's note on a shared (lot-less) row stays theirs
                .where(
                    or_(
                        AuditLog.entity != "recon_discrepancy",
                        AuditLog.data["operator_id"].astext == str(operator_id),
                    )
                )
                .order_by(AuditLog.at, AuditLog.id)
            )
        ).scalars()
    )
    return {
        "d": d,
        "class_vi": CLASS_VI.get(d["code"], d["code"]),
        "statement": statement,
        "settlement": settlement,
        "batch": (d["evidence"] or {}).get("batch"),
        "session": session,
        "intent": intent,
        "payments": payments,
        "proposal": proposal,
        "history": history,
        "proposal_scoped": proposal is not None and await _proposal_lot_ok(db, proposal, lot_ids),
    }


def _entity_id(d: dict[str, Any]) -> str:
    return f"{d['business_date']}:{d['code']}:{d['subject']}"


def _bounded_text(value: str | None, code: str, ask: str) -> str:
    """A person's mandatory note, stripped and bounded; else one clear 422."""
    text = (value or "").strip()
    if len(text) < NOTE_MIN or len(text) > NOTE_MAX:
        raise AppError(code, f"{ask} of {NOTE_MIN} to {NOTE_MAX} characters.", 422, {"min": NOTE_MIN, "max": NOTE_MAX})
    return text


async def explain(
    db: AsyncSession,
    discrepancy_id: int,
    *,
    operator_id: uuid.UUID,
    lot_ids: Sequence[uuid.UUID],
    actor: str,
    note: str,
) -> dict[str, Any]:
    """Mark a discrepancy explained (the note is mandatory); explaining it again replaces the note, audited too."""
    note = _bounded_text(note, "note_required", "Explain the discrepancy in a note")
    d = await _discrepancy(db, discrepancy_id, operator_id=operator_id, lot_ids=lot_ids)
    now = datetime.now(UTC)
    values = {
        "operator_id": operator_id,
        "business_date": d["business_date"],
        "code": d["code"],
        "subject": d["subject"],
        "status": "explained",
        "note": note,
        "resolved_by": actor,
        "resolved_at": now,
    }
    await db.execute(
        insert(DiscrepancyResolution)
        .values(**values)
        .on_conflict_do_update(
            constraint="uq_recon_resolutions_operator_date_code_subject",
            set_={"note": note, "resolved_by": actor, "resolved_at": now, "status": "explained"},
        )
    )
    await audit(
        db,
        actor=actor,
        action="reconciliation.explained",
        entity="recon_discrepancy",
        entity_id=_entity_id(d),
        data={
            "discrepancy_id": d["id"],
            "business_date": d["business_date"].isoformat(),
            "code": d["code"],
            "subject": d["subject"],
            "note": note,
            "previous_note": d["resolution_note"],
            "operator_id": str(operator_id),
        },
    )
    return {"id": d["id"], "code": d["code"], "subject": d["subject"], "status": "explained", "note": note}


async def _proposal_lot_ok(db: AsyncSession, proposal: RefundProposal, lot_ids: Sequence[uuid.UUID]) -> bool:
    """The proposal's lot: its payment's (session or QR debt), else its duplicate-credit discrepancy's session's
    (the duplicate money itself is booked unallocated, with no session). A proposal of no lot is nobody's."""
    lot = (
        await db.execute(
            text(
                f"""SELECT coalesce({payment_lot(":pid")},
                        (SELECT coalesce(d.lot_id, s.lot_id) FROM recon_discrepancies d
                           LEFT JOIN parking_sessions s ON s.id = d.session_id
                          WHERE d.statement_line_id = :line AND d.code = 'duplicate_credit'
                          ORDER BY d.business_date DESC LIMIT 1))"""
            ).bindparams(bindparam("pid", type_=RefundProposal.payment_id.type)),
            {"pid": proposal.payment_id, "line": proposal.statement_line_id},
        )
    ).scalar()
    return lot is not None and lot in lot_ids


async def _proposal(db: AsyncSession, proposal_id: uuid.UUID, lot_ids: Sequence[uuid.UUID]) -> RefundProposal:
    proposal = (
        await db.execute(select(RefundProposal).where(RefundProposal.id == proposal_id).with_for_update())
    ).scalar_one_or_none()
    if proposal is None or not await _proposal_lot_ok(db, proposal, lot_ids):
        raise AppError("proposal_not_found", "No such refund proposal.", 404)
    return proposal


async def approve(
    db: AsyncSession, proposal_id: uuid.UUID, *, lot_ids: Sequence[uuid.UUID], actor: str, note: str = ""
) -> RefundProposal:
    """Execute an awaiting refund proposal through the payments service (ledger, audit, the provider's refund
    through the outbox), as the reconciliation service does under the automatic limit."""
    proposal = await _proposal(db, proposal_id, lot_ids)
    await execute_proposal(db, proposal, actor=actor)
    await audit(
        db,
        actor=actor,
        action="reconciliation.refund_approved",
        entity="refund_proposal",
        entity_id=str(proposal.id),
        data={"amount_vnd": proposal.amount_vnd, "refund_id": str(proposal.refund_id), "note": note.strip()},
    )
    return proposal


async def reject(
    db: AsyncSession, proposal_id: uuid.UUID, *, lot_ids: Sequence[uuid.UUID], actor: str, reason: str
) -> RefundProposal:
    """Keep the money of a proposed refund (e.g. the driver owes it elsewhere): a reason is mandatory."""
    reason = _bounded_text(reason, "reason_required", "Give the reason for keeping the money in a note")
    proposal = await _proposal(db, proposal_id, lot_ids)
    if proposal.status != "awaiting_approval":
        raise AppError("proposal_decided", f"This refund proposal is already {proposal.status}.", 409)
    proposal.status, proposal.decided_by, proposal.decided_at = "rejected", actor, datetime.now(UTC)
    await db.flush()
    await audit(
        db,
        actor=actor,
        action="reconciliation.refund_rejected",
        entity="refund_proposal",
        entity_id=str(proposal.id),
        data={
            "amount_vnd": proposal.amount_vnd,
            "payment_id": str(proposal.payment_id),
            "statement_line_id": proposal.statement_line_id,
            "business_date": proposal.business_date.isoformat(),
            "reason": reason,
        },
    )
    return proposal
