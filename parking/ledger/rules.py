"""Double-entry posting rules. Pure: builds journal entries, never stores them.

Sign convention: a posting's amount is positive for a debit and negative for a credit;
the postings of one entry always sum to zero. Accounts:

  driver_receivable          what drivers owe us (fee recognised at exit, cleared by payments)
  bank_clearing:<provider>   money held for us by a provider, not yet settled to our bank
  revenue:<lot_id>           parking revenue per lot
  refunds                    contra-revenue: money given back
  unallocated                money received that matches no session (orphans, overpayments)

Revenue is recognised once per session at exit (fee > 0), whatever the payment path; every
payment then clears the receivable. An unpaid session therefore *is* a debt on
driver_receivable, and a late or background charge needs no special case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

__all__ = [
    "RECEIVABLE",
    "REFUNDS",
    "UNALLOCATED",
    "JournalEntry",
    "LedgerError",
    "Posting",
    "clearing",
    "fee_recognised",
    "pass_sold",
    "payment_received",
    "refund_issued",
    "revenue",
    "reversal",
    "validate",
]

RECEIVABLE = "driver_receivable"
REFUNDS = "refunds"
UNALLOCATED = "unallocated"


def clearing(provider: str) -> str:
    return f"bank_clearing:{provider}"


def revenue(lot_id: UUID | str) -> str:
    return f"revenue:{lot_id}"


class LedgerError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    amount_vnd: int  # + debit, - credit


@dataclass(frozen=True, slots=True)
class JournalEntry:
    kind: str
    idempotency_key: str  # one entry per business fact; a replay finds the existing one
    postings: tuple[Posting, ...]
    session_id: UUID | None = None
    payment_id: UUID | None = None
    reverses_key: str | None = None
    memo: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self.postings)


def validate(postings: tuple[Posting, ...]) -> None:
    if len(postings) < 2:
        raise LedgerError("an entry needs at least two postings")
    if any(isinstance(p.amount_vnd, bool) or not isinstance(p.amount_vnd, int) for p in postings):
        raise LedgerError("amounts are integer VND")
    if any(p.amount_vnd == 0 for p in postings):
        raise LedgerError("zero postings are noise")
    if sum(p.amount_vnd for p in postings) != 0:
        raise LedgerError("postings must sum to zero")


def _pair(debit: str, credit: str, amount: int) -> tuple[Posting, ...]:
    if amount <= 0:
        raise LedgerError("amount must be positive")
    return (Posting(debit, amount), Posting(credit, -amount))


def fee_recognised(*, session_id: UUID, lot_id: UUID | str, fee_vnd: int) -> JournalEntry:
    return JournalEntry("fee", f"fee:{session_id}", _pair(RECEIVABLE, revenue(lot_id), fee_vnd), session_id=session_id)


def payment_received(
    *, payment_id: UUID, session_id: UUID | None, provider: str, amount_vnd: int, applied_vnd: int
) -> JournalEntry:
    """Money in: `applied_vnd` clears the receivable, any excess goes to unallocated."""
    if not 0 <= applied_vnd <= amount_vnd:
        raise LedgerError("applied amount outside 0..amount")
    postings = [Posting(clearing(provider), amount_vnd)]
    if applied_vnd:
        postings.append(Posting(RECEIVABLE, -applied_vnd))
    if amount_vnd - applied_vnd:
        postings.append(Posting(UNALLOCATED, -(amount_vnd - applied_vnd)))
    return JournalEntry(
        "payment", f"payment:{payment_id}", tuple(postings), session_id=session_id, payment_id=payment_id
    )


def refund_issued(
    *,
    refund_id: UUID,
    payment_id: UUID,
    session_id: UUID | None,
    provider: str,
    amount_vnd: int,
    credit_vnd: int = 0,
) -> JournalEntry:
    """Money out. `credit_vnd` of it gives back money beyond the fee (debits `unallocated`, never revenue);
    the rest is contra-revenue (`refunds`)."""
    if not 0 <= credit_vnd <= amount_vnd:
        raise LedgerError("credit part outside 0..amount")
    if amount_vnd <= 0:
        raise LedgerError("amount must be positive")
    postings = [Posting(clearing(provider), -amount_vnd)]
    if credit_vnd:
        postings.append(Posting(UNALLOCATED, credit_vnd))
    if amount_vnd - credit_vnd:
        postings.append(Posting(REFUNDS, amount_vnd - credit_vnd))
    return JournalEntry("refund", f"refund:{refund_id}", tuple(postings), session_id=session_id, payment_id=payment_id)


def reversal(
    entry_key: str, postings: tuple[Posting, ...], *, reason: str, session_id: UUID | None = None
) -> JournalEntry:
    """Corrections never edit history: they post the mirror image."""
    mirrored = tuple(Posting(p.account, -p.amount_vnd) for p in postings)
    return JournalEntry(
        "reversal",
        f"reversal:{entry_key}",
        mirrored,
        session_id=session_id,
        reverses_key=entry_key,
        memo=reason,
    )


def pass_sold(*, payment_id: UUID, lot_id: UUID | str, provider: str, amount_vnd: int) -> JournalEntry:
    return JournalEntry(
        "pass",
        f"pass:{payment_id}",
        _pair(clearing(provider), revenue(lot_id), amount_vnd),
        payment_id=payment_id,
    )
