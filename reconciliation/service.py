"""One reconciliation run of a business day: match, classify, heal, summarise.

Everything happens in the caller's transaction (the job boundary commits): a run killed half-way
leaves nothing behind, and a transaction-scoped advisory lock keeps two instances from running at once.
A re-run replaces the day's matches and discrepancies; healing steps are unique per subject, so a re-run
heals nothing twice and reports the same result.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import structlog
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parking.audit.service import record as audit
from parking.kit.errors import AppError
from parking.models import Debt, HealingStep, ParkingSession, Payment, PaymentIntent, ReconRun, RefundProposal
from parking.payments import service as payments
from parking.payments.notifications import BankCredit
from reconciliation import matching
from reconciliation.formats import day_end
from reconciliation.rules import CLASS_CODES, empty_counts
from reconciliation.settings import ReconSettings, get_recon_settings

log = structlog.get_logger("reconciliation")

LOCK_KEY = 0x7265636F6E  # "recon": one reconciliation at a time across every instance
ACTOR = "system:reconciliation"
HEAL_ACTIONS = ("mark_paid", "issue_invoice", "book_duplicate", "refund_executed", "refund_proposed")
Progress = Callable[[str], None]


class RunInProgress(AppError):
    def __init__(self) -> None:
        super().__init__("reconciliation_running", "Another reconciliation run holds the lock; try again later.", 409)


async def try_lock(db: AsyncSession) -> bool:
    return bool((await db.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY})).scalar())


async def run_day(
    db: AsyncSession,
    day: date,
    *,
    trigger: str = "cli",
    settings: ReconSettings | None = None,
    heal: bool = True,
    progress: Progress | None = None,
    skip_if_done: bool = False,
) -> dict[str, Any] | None:
    """Reconcile `day` (local business day). Returns the summary; None when skipped (already done)."""
    s = settings or get_recon_settings()
    step = progress or (lambda _name: None)
    if not await try_lock(db):
        raise RunInProgress()
    await db.execute(text(f"SET LOCAL work_mem = '{int(s.work_mem_mb)}MB'"))
    previous = (await db.execute(select(ReconRun).where(ReconRun.business_date == day))).scalar_one_or_none()
    until = await matching.window_end(db, day)
    # A run cut during the day (the demo's) is not the day's run: the night after, the whole day is reconciled.
    if skip_if_done and previous is not None:
        covered = previous.summary.get("window_end")
        if covered is None or datetime.fromisoformat(str(covered)) >= day_end(day):
            return None
    started = datetime.now(UTC)
    dp = matching.params(day, s, until)
    step("clear")
    await matching.clear_day(db, day)
    step("match_statement")
    await matching.match_statement(db, dp)
    step("match_settlement")
    await matching.match_settlement(db, dp)
    step("classify")
    await matching.classify(db, dp)
    if heal:
        step("heal")
        await heal_day(db, dp)
    step("summarise")
    summary = await summarise(db, dp)
    if previous is None:
        db.add(
            ReconRun(id=uuid.uuid4(), business_date=day, trigger=trigger, runs=1, summary=summary, started_at=started)
        )
    else:
        previous.trigger, previous.runs, previous.summary = trigger, previous.runs + 1, summary
        previous.started_at, previous.finished_at = started, datetime.now(UTC)
    await db.flush()
    log.info("reconciliation.done", day=str(day), trigger=trigger, discrepancies=summary["discrepancies"])
    return summary


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


async def summarise(db: AsyncSession, dp: matching.DayParams) -> dict[str, Any]:
    fig = await matching.figures(db, dp)
    counts = empty_counts()
    for code, n in (
        await db.execute(
            text("SELECT code, count(*) FROM recon_discrepancies WHERE business_date = :d GROUP BY code"),
            {"d": dp.day},
        )
    ).all():
        counts[code] = int(n)
    healed = dict.fromkeys(HEAL_ACTIONS, 0)
    for action, n in (
        await db.execute(
            text("SELECT action, count(*) FROM recon_healing WHERE business_date = :d GROUP BY action"), {"d": dp.day}
        )
    ).all():
        healed[action] = int(n)
    return {
        "date": dp.day.isoformat(),
        # reconciled up to (the files' cut-off; the day's end for the next morning's files)
        "window_end": _iso(dp.end),
        "payments": fig["payments"],
        "matched": fig["matched"],
        "discrepancies": {c: counts[c] for c in CLASS_CODES},
        "discrepancies_total": sum(counts.values()),
        "healed": healed,
        "amounts": {
            "expected_vnd": fig["expected_vnd"],
            "settled_vnd": fig["settled_vnd"],
            "difference_vnd": fig["settled_vnd"] - fig["expected_vnd"],
            "fees_vnd": fig["fees_vnd"],
        },
    }


# ------------------------------------------------------------------ self-healing (bounded, audited)


async def _step(
    db: AsyncSession,
    day: date,
    action: str,
    subject: str,
    *,
    payment_id: uuid.UUID | None,
    session_id: uuid.UUID | None,
    detail: dict[str, Any],
) -> bool:
    """Record one healing step (unique per action and subject) with its audit record; False if already done."""
    done = (
        await db.execute(
            insert(HealingStep)
            .values(
                business_date=day,
                action=action,
                subject=subject,
                payment_id=payment_id,
                session_id=session_id,
                detail=detail,
            )
            .on_conflict_do_nothing(constraint="uq_recon_healing_action_subject")
            .returning(HealingStep.id)
        )
    ).scalar_one_or_none()
    if done is None:
        return False
    await audit(
        db,
        actor=ACTOR,
        action=f"reconciliation.{action}",
        entity="payment" if payment_id else "recon",
        entity_id=str(payment_id or subject),
        data={"business_date": day.isoformat(), "subject": subject, **detail},
    )
    return True


def _credit(row: Any, day: date, candidates: list[str], why: str) -> BankCredit:
    return BankCredit(
        provider=row.provider,
        provider_txn_id=f"stmt:{row.natural_key}",
        amount_vnd=int(row.amount_vnd),
        success=True,
        occurred_at=row.booked_at,
        candidates=candidates,
        content=row.narrative,
        raw={
            "source": "reconciliation",
            "reason": why,
            "statement_line_id": str(row.id),
            "business_date": day.isoformat(),
            "bank_ref": row.bank_ref,
            "raw": row.raw,
        },
    )


async def heal_day(db: AsyncSession, dp: matching.DayParams) -> None:
    day, s = dp.day, dp.s
    # 1. money on the statement for a session we still show unpaid: book it (marks the session paid, clears
    #    its debt, posts the ledger and issues the e-invoice through the payments service)
    rows = (
        await db.execute(
            text(
                """SELECT l.id, l.provider, l.natural_key, l.amount_vnd, l.booked_at, l.narrative, l.bank_ref, l.raw,
                          i.reference, i.session_id
                     FROM recon_discrepancies d
                     JOIN recon_statement_lines l ON l.id = d.statement_line_id
                     JOIN payment_intents i ON i.id = d.intent_id
                    WHERE d.business_date = :d AND d.code = 'status_mismatch' AND d.payment_id IS NULL
                    ORDER BY l.id LIMIT :n"""
            ),
            {"d": day, "n": s.heal_limit},
        )
    ).all()
    healed: list[tuple[int, uuid.UUID]] = []
    for r in rows:
        out = await payments.handle_credit(db, _credit(r, day, [r.reference], "status_mismatch"), now=r.booked_at)
        if out.payment_id is None:
            continue
        healed.append((int(r.id), out.payment_id))
        await _step(
            db,
            day,
            "mark_paid",
            f"stmt:{r.id}",
            payment_id=out.payment_id,
            session_id=r.session_id,
            detail={"amount_vnd": int(r.amount_vnd), "outcome": out.outcome, "reference": r.reference},
        )
    if healed:  # the match and the finding now name the payment booked from their line (one statement each)
        pairs = {"lines": [h[0] for h in healed], "pays": [h[1] for h in healed], "d": day}
        await db.execute(
            text(
                """UPDATE recon_matches m SET payment_id = b.p
                     FROM unnest(CAST(:lines AS bigint[]), CAST(:pays AS uuid[])) AS b(l, p)
                    WHERE m.business_date = :d AND m.source = 'statement' AND m.line_id = b.l"""
            ),
            pairs,
        )
        await db.execute(
            text(
                """UPDATE recon_discrepancies x SET payment_id = b.p
                     FROM unnest(CAST(:lines AS bigint[]), CAST(:pays AS uuid[])) AS b(l, p)
                    WHERE x.business_date = :d AND x.statement_line_id = b.l"""
            ),
            pairs,
        )
    # 2. duplicate credits: book the money (unallocated), then a refund proposal
    dups = (
        await db.execute(
            text(
                """SELECT l.id, l.provider, l.natural_key, l.amount_vnd, l.booked_at, l.narrative, l.bank_ref, l.raw,
                          d.session_id
                     FROM recon_discrepancies d JOIN recon_statement_lines l ON l.id = d.statement_line_id
                    WHERE d.business_date = :d AND d.code = 'duplicate_credit'
                      AND NOT EXISTS (SELECT 1 FROM recon_refund_proposals rp WHERE rp.statement_line_id = l.id)
                    ORDER BY l.id LIMIT :n"""
            ),
            {"d": day, "n": s.heal_limit},
        )
    ).all()
    for r in dups:
        booked = await payments.handle_credit(db, _credit(r, day, [], "duplicate_credit"), now=r.booked_at)
        assert booked.payment_id is not None
        await _step(
            db,
            day,
            "book_duplicate",
            f"stmt:{r.id}",
            payment_id=booked.payment_id,
            session_id=r.session_id,
            detail={"amount_vnd": int(r.amount_vnd)},
        )
        proposal = RefundProposal(
            id=uuid.uuid4(),
            business_date=day,
            statement_line_id=r.id,
            payment_id=booked.payment_id,
            amount_vnd=int(r.amount_vnd),
            status="awaiting_approval",
        )
        db.add(proposal)
        await db.flush()
        if r.amount_vnd <= s.auto_refund_limit_vnd:
            await execute_proposal(db, proposal, actor=ACTOR, day=day)
        else:
            await _step(
                db,
                day,
                "refund_proposed",
                f"proposal:{proposal.id}",
                payment_id=booked.payment_id,
                session_id=r.session_id,
                detail={"amount_vnd": int(r.amount_vnd), "limit_vnd": s.auto_refund_limit_vnd},
            )
    # 3. e-invoice catch-up: every confirmed sale of the day without its invoice gets one
    from parking.invoices.service import INVOICEABLE_PURPOSES, on_payment_confirmed

    lo, hi = dp.lo, dp.end
    missing = (
        await db.execute(
            text(
                """SELECT p.id, p.session_id FROM payments p
                    WHERE p.status = ANY(:paid) AND p.purpose = ANY(:purposes)
                      AND p.confirmed_at >= :lo AND p.confirmed_at < :hi
                      AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.payment_id = p.id AND i.kind = 'original')
                    ORDER BY p.confirmed_at, p.id LIMIT :n"""
            ),
            {"paid": matching.PAID, "purposes": list(INVOICEABLE_PURPOSES), "lo": lo, "hi": hi, "n": s.heal_limit},
        )
    ).all()
    for pid, sid in missing:
        inv = await on_payment_confirmed(db, pid)
        if inv is not None:
            await _step(
                db,
                day,
                "issue_invoice",
                f"payment:{pid}",
                payment_id=pid,
                session_id=sid,
                detail={"mccqt": inv.mccqt, "total_vnd": inv.total_vnd},
            )


async def execute_proposal(db: AsyncSession, proposal: RefundProposal, *, actor: str, day: date | None = None) -> None:
    """Refund a duplicate credit through the payments service (ledger, audit, provider call via the outbox)."""
    if proposal.status != "awaiting_approval":
        raise AppError("proposal_decided", f"This refund proposal is already {proposal.status}.", 409)
    refund = await payments.refund(
        db,
        payment_id=proposal.payment_id,
        amount_vnd=proposal.amount_vnd,
        reason=f"Hoàn chuyển khoản trùng / duplicate credit (statement line {proposal.statement_line_id})",
        actor=actor,
    )
    proposal.status, proposal.refund_id = "executed", refund.id
    proposal.decided_by, proposal.decided_at = actor, datetime.now(UTC)
    await db.flush()
    await _step(
        db,
        day or proposal.business_date,
        "refund_executed",
        f"proposal:{proposal.id}",
        payment_id=proposal.payment_id,
        session_id=None,
        detail={"refund_id": str(refund.id), "amount_vnd": proposal.amount_vnd, "by": actor},
    )


async def approve_proposal(
    db: AsyncSession, proposal_id: uuid.UUID, *, actor: str, lot_ids: Sequence[uuid.UUID] | None = None
) -> RefundProposal:
    """Execute an awaiting refund proposal; with `lot_ids` (a staff member's), only one whose payment belongs to
    those lots (through its session, or its QR's debt): any other answers 404 as if it did not exist."""
    proposal = (
        await db.execute(select(RefundProposal).where(RefundProposal.id == proposal_id).with_for_update())
    ).scalar_one_or_none()
    if proposal is not None and lot_ids is not None:
        lot = (
            await db.execute(
                select(func.coalesce(ParkingSession.lot_id, Debt.lot_id))
                .select_from(Payment)
                .outerjoin(ParkingSession, ParkingSession.id == Payment.session_id)
                .outerjoin(PaymentIntent, PaymentIntent.id == Payment.intent_id)
                .outerjoin(Debt, Debt.id == PaymentIntent.debt_id)
                .where(Payment.id == proposal.payment_id)
            )
        ).scalar()
        if lot not in lot_ids:
            proposal = None
    if proposal is None:
        raise AppError("proposal_not_found", "No such refund proposal.", 404)
    await execute_proposal(db, proposal, actor=actor)
    return proposal


async def last_summary(db: AsyncSession, day: date) -> dict[str, Any] | None:
    run = (await db.execute(select(ReconRun).where(ReconRun.business_date == day))).scalar_one_or_none()
    return dict(run.summary) if run else None
