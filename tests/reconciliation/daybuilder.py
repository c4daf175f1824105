"""Build one business day in the real database (sessions, VietQR intents, payments as the payments service
books them, debts, gate exits) and the files the bank and the intermediary deliver for it (the simulator's
generator), so a test can inject one fault and check that exactly that is found."""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit.db import transaction
from parking.ledger import repository as ledger_repo
from parking.ledger import rules as ledger
from parking.models import GateEvent, ParkingSession, Payment, PaymentIntent
from parking.payments import service as payments
from parking.payments.notifications import BankCredit
from parking.payments.vietqr import new_reference
from parking.settings import REPO_ROOT
from reconciliation.importer import import_file
from reconciliation.rules import VN_TZ
from simulators.payment_provider import statements as S
from tests.factories import LotHandle, random_car_plate

CONFIG = REPO_ROOT / "config"
_days = itertools.count()
_BASE = date(2031, 1, 1) + timedelta(days=random.Random().randrange(0, 20000))


def fresh_day() -> date:
    """Every test reconciles its own business day, so tests never see each other's data."""
    return _BASE + timedelta(days=3 * next(_days))


@dataclass
class Sale:
    session_id: uuid.UUID
    reference: str | None
    amount_vnd: int
    at: datetime
    channel: str  # bank | charge
    txn_id: str
    notified: bool
    payment_id: uuid.UUID | None = None


@dataclass
class Day:
    day: date
    lot: LotHandle
    sales: list[Sale] = field(default_factory=list)
    faults: S.DayFaults = field(default_factory=S.DayFaults)
    exits_without_session: int = 0

    def local(self, hh: int, mm: int = 0) -> datetime:
        return datetime.combine(self.day, time(hh, mm), VN_TZ)

    def txns(self) -> list[S.DayTxn]:
        return [
            S.DayTxn(s.txn_id, s.channel, s.reference, s.amount_vnd, s.at)
            for s in sorted(self.sales, key=lambda s: s.at)
        ]


async def add_sale(
    sm: async_sessionmaker[AsyncSession],
    d: Day,
    at: datetime,
    amount: int,
    *,
    channel: str = "bank",
    notified: bool = True,
    paid_amount: int | None = None,
) -> Sale:
    """A car leaves at `at` owing `amount`; it pays by VietQR (bank) or linked account (charge)."""
    sid = uuid.uuid4()
    ref = new_reference() if channel == "bank" else None
    txn = f"T{uuid.uuid4().hex[:12]}"
    async with transaction(sm) as db:
        db.add(
            ParkingSession(
                id=sid,
                lot_id=d.lot.id,
                vehicle_class="car_small",
                plate=random_car_plate(),
                status="closed",
                entry_at=at - timedelta(hours=2),
                exit_at=at,
                fee_vnd=amount,
                payment_status="awaiting_qr" if channel == "bank" else "charging",
                flags=[],
            )
        )
        db.add(
            GateEvent(
                id=uuid.uuid4(),
                lane_id=d.lot.exit.id,
                lot_id=d.lot.id,
                kind="exit",
                plate_read=None,
                plate=None,
                confidence=0.9,
                vehicle_class="car_small",
                captured_at=at,
                request_hash="0" * 64,
                session_id=sid,
            )
        )
        await db.flush()
        await ledger_repo.post_entry(db, ledger.fee_recognised(session_id=sid, lot_id=d.lot.id, fee_vnd=amount))
        sale = Sale(sid, ref, amount, at, channel, txn, notified)
        if channel == "bank":
            intent = PaymentIntent(
                id=uuid.uuid4(),
                session_id=sid,
                purpose="session",
                reference=ref,
                amount_vnd=amount,
                qr_payload="-",
                status="open",
                expires_at=at + timedelta(minutes=15),
                created_at=at,
            )
            db.add(intent)
            await db.flush()
            if notified:
                out = await payments.handle_credit(
                    db,
                    BankCredit(
                        provider="sepay",
                        provider_txn_id=txn,
                        amount_vnd=paid_amount or amount,
                        success=True,
                        occurred_at=at + timedelta(minutes=1),
                        candidates=[ref],  # type: ignore[list-item]
                        content=f"MBVCB.1.{ref}",
                        raw={"id": txn},
                    ),
                    now=at + timedelta(minutes=1),
                )
                sale.payment_id = out.payment_id
            else:  # the notification was lost: the QR expired, the car left owing
                intent.status = "expired"
                await payments.record_debt(db, session_id=sid, reason="qr_unpaid")
        else:
            p = Payment(
                id=uuid.uuid4(),
                session_id=sid,
                purpose="session",
                amount_vnd=amount,
                status="pending",
                method="linked",
                provider="sim",
                provider_txn_id=txn,
                flags=[],
            )
            db.add(p)
            await db.flush()
            await payments.confirm(db, p, provider_txn_id=txn, now=at + timedelta(seconds=5))
            sale.payment_id = p.id
    d.sales.append(sale)
    return sale


async def add_exit_without_session(sm: async_sessionmaker[AsyncSession], d: Day, at: datetime) -> None:
    """A vehicle through the exit lane with no session behind it (the attendant took cash)."""
    async with transaction(sm) as db:
        db.add(
            GateEvent(
                id=uuid.uuid4(),
                lane_id=d.lot.exit.id,
                lot_id=d.lot.id,
                kind="exit",
                plate_read=None,
                plate=None,
                confidence=0.9,
                vehicle_class="car_small",
                captured_at=at,
                request_hash="0" * 64,
            )
        )
    d.exits_without_session += 1


async def deliver_files(
    sm: async_sessionmaker[AsyncSession],
    d: Day,
    tmp: Path,
    *,
    provider: str,
    layout: str = "vietcombank",
    suffix: str = "csv",
    next_day: bool = False,
) -> None:
    """Write and import the day's statement and settlement report (and the next day's statement)."""
    txns = d.txns()
    stmt = tmp / f"stmt-{d.day}.{suffix}"
    S.write_statement(S.statement_rows(d.day, txns, d.faults), stmt, layout=layout, day=d.day)
    sett = tmp / f"ds-{d.day}.csv"
    S.write_settlement(S.settlement_rows(d.day, txns, d.faults, provider=provider), sett, provider=provider, day=d.day)
    async with transaction(sm) as db:
        await import_file(
            db, provider=f"{provider}-bank", kind="bank-statement", path=stmt, config_dir=CONFIG, preset=layout
        )
        await import_file(db, provider=provider, kind="settlement", path=sett, config_dir=CONFIG)
    if next_day:
        nd = d.day + timedelta(days=1)
        nxt = tmp / f"stmt-{nd}.{suffix}"
        late = S.late_rows(d.day, txns, d.faults)
        transfer = S.transfer_row(S.batch_id(provider, d.day), 1_000, S.transfer_time(d.day, d.faults))
        S.write_statement(S.statement_rows(nd, [], S.DayFaults(), extra=[*late, transfer]), nxt, layout=layout, day=nd)
        async with transaction(sm) as db:
            await import_file(
                db, provider=f"{provider}-bank", kind="bank-statement", path=nxt, config_dir=CONFIG, preset=layout
            )


async def session_with_qr(sm: async_sessionmaker[AsyncSession], lot: LotHandle, fee: int) -> tuple[uuid.UUID, str]:
    """A closed car session awaiting its VietQR payment: (session id, the QR payload a driver would scan)."""
    sid = uuid.uuid4()
    now = datetime.now(UTC)
    async with transaction(sm) as db:
        db.add(
            ParkingSession(
                id=sid, lot_id=lot.id, vehicle_class="car_small", plate=random_car_plate(), status="closed",
                entry_at=now - timedelta(hours=1), exit_at=now, fee_vnd=fee, payment_status="awaiting_qr", flags=[],
            )
        )  # fmt: skip
        await db.flush()
        await ledger_repo.post_entry(db, ledger.fee_recognised(session_id=sid, lot_id=lot.id, fee_vnd=fee))
        intent = await payments.create_intent(db, amount_vnd=fee, purpose="session", session_id=sid, lane_id=None)
        return sid, intent.qr_payload
