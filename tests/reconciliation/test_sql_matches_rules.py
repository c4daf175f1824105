"""The set-based SQL (reconciliation/matching.py) decides exactly what the pure rules (rules.match) decide,
on random days full of mangled, truncated, duplicated, late and reference-less credits."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import PaymentIntent, ReconFile, ReconMatch, StatementLine
from parking.payments.vietqr import new_reference
from reconciliation import matching, rules
from reconciliation.formats import day_start
from reconciliation.settings import ReconSettings
from tests.reconciliation.daybuilder import fresh_day


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_sql_and_pure_rules_agree(sessionmaker: async_sessionmaker[AsyncSession], seed: int) -> None:
    rng = random.Random(seed)
    day = fresh_day()
    t0 = day_start(day)
    s = ReconSettings()
    async with sessionmaker() as db:
        intents = []
        for _ in range(60):
            at = t0 + timedelta(minutes=rng.randrange(-60 * 30, 60 * 24))  # some shown the day before
            intents.append(
                PaymentIntent(
                    id=uuid.uuid4(),
                    purpose="session",
                    reference=new_reference(),
                    amount_vnd=rng.choice([3000, 5000, 25000, 30000]),
                    qr_payload="-",
                    status="open",
                    expires_at=at + timedelta(minutes=15),
                    created_at=at,
                )
            )
        db.add_all(intents)
        f = ReconFile(
            id=uuid.uuid4(), provider=f"p{seed}", kind="bank_statement", filename="x", sha256=uuid.uuid4().hex,
            lines=0, new_lines=0,
        )  # fmt: skip
        db.add(f)
        await db.flush()
        lines = []
        for j in range(90):
            kind = rng.choice(["exact", "exact", "dup", "amount", "noref", "trunc", "spaced", "lookalike", "early"])
            e = rng.choice(intents)
            at = e.created_at + timedelta(minutes=rng.randrange(0, 40))
            amount = e.amount_vnd
            ref = e.reference
            if kind == "amount":
                amount = rng.choice([amount * 100, amount - 1000, amount + 5000])
            elif kind == "trunc":
                ref = ref[: rng.choice([8, 9])]
            elif kind == "spaced":
                ref = ref[:4] + " " + ref[4:]
            elif kind == "lookalike":
                ref = ref.replace("0", "O").replace("1", "I")
            elif kind == "early":
                at = e.created_at - timedelta(minutes=rng.randrange(10, 40))
            narrative = f"MBVCB.{j}.{ref} CT tu 0351 NGUYEN VAN A" if kind != "noref" else "CHUYEN TIEN GUI XE"
            at = min(max(at, t0), t0 + timedelta(hours=23, minutes=59))  # the line is on this day's statement
            toks = rules.extract_tokens(narrative)
            lines.append(
                StatementLine(
                    file_id=f.id, provider=f.provider, natural_key=f"k{j}", line_no=j, raw=narrative, raw_hash="-",
                    booked_at=at, business_date=day, direction="credit", amount_vnd=amount, narrative=narrative,
                    tokens=list(toks.full), partial_tokens=list(toks.partial),
                )
            )  # fmt: skip
        db.add_all(lines)
        await db.flush()
        dp = matching.params(day, s)
        await matching.match_statement(db, dp)
        got = {
            m.line_id: (m.outcome, str(m.intent_id) if m.intent_id else None)
            for m in (await db.execute(select(ReconMatch).where(ReconMatch.business_date == day))).scalars()
        }
        await db.rollback()

    window = rules.Window(
        before=timedelta(minutes=s.window_before_min),
        after=timedelta(hours=s.window_after_h),
        fallback=timedelta(minutes=s.fallback_min),
    )
    lo = dp.lo - timedelta(hours=s.window_after_h)
    expected = [
        rules.Expected(str(i.id), i.reference, i.amount_vnd, i.created_at)
        for i in intents
        if lo <= i.created_at < dp.hi
    ]
    pure = rules.match(
        expected,
        [rules.Line(f"{ln.id:020d}", ln.amount_vnd, ln.booked_at, ln.narrative) for ln in lines],
        window,
    )
    want = {int(k): (d.outcome, d.expected_key) for k, d in pure.decisions.items()}
    assert got == want
    outcomes = {o for o, _ in want.values()}
    assert {"matched", "duplicate", "amount_mismatch", "orphan"} <= outcomes  # the day exercised the rules
