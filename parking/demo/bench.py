"""Lots for the gate benchmark: large capacities so the run measures the gate path, not refusals."""

from __future__ import annotations

import secrets
import string
import uuid
from decimal import Decimal
from typing import Any

from parking.kit.db import make_engine, make_sessionmaker, transaction
from parking.lanes.auth import hash_secret, make_token, new_secret
from parking.models import Lane, Lot, LotCapacity, Operator

_ALNUM = string.ascii_uppercase + string.digits


async def create_bench_lots(db_url: str, n: int) -> list[dict[str, Any]]:
    engine = make_engine(db_url, 2)
    out: list[dict[str, Any]] = []
    try:
        async with transaction(make_sessionmaker(engine)) as db:
            tag = uuid.uuid4().hex[:6].upper()
            op = Operator(
                id=uuid.uuid4(),
                code=f"BENCH-{tag}",
                name="Benchmark operator",
                address="Hà Nội",
                tax_code="0100000000",
                # Paid exits get their e-invoice, as in production; a random code, as the tax authority issues one.
                invoice_series_code="".join(secrets.choice(_ALNUM) for _ in range(5)),
                invoice_symbol_letters="BB",
            )
            db.add(op)
            await db.flush()
            for i in range(n):
                lot = Lot(
                    id=uuid.uuid4(),
                    operator_id=op.id,
                    code=f"B{tag}-{i:03d}",
                    name=f"Bench lot {i}",
                    address="Hà Nội",
                    latitude=Decimal("21.03"),
                    longitude=Decimal("105.85"),
                    tariff_id="hanoi-44-2017",
                    tariff_zone="urban",
                )
                db.add(lot)
                await db.flush()
                db.add(LotCapacity(lot_id=lot.id, vehicle_class="car_small", capacity=1_000_000, occupied=0))
                pair: dict[str, Any] = {"lot": lot.code}
                for code, direction in (("E1", "entry"), ("X1", "exit")):
                    secret = new_secret()
                    lane = Lane(
                        id=uuid.uuid4(),
                        lot_id=lot.id,
                        code=code,
                        direction=direction,
                        vehicle_class="car_small",
                        credential_hash=hash_secret(secret),
                    )
                    db.add(lane)
                    pair[direction] = make_token(lane.id, secret)
                out.append(pair)
    finally:
        await engine.dispose()
    return out
