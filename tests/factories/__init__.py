"""Test data builders. Every test gets its own lot, so tests never need to clean up after each other."""

from __future__ import annotations

import random
import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.invoices.certs import ensure_demo_credentials
from parking.invoices.settings import get_invoice_settings
from parking.lanes.auth import hash_secret, make_token, new_secret
from parking.models import Lane, Lot, LotCapacity, Operator

PROVINCES = ["29", "30", "51", "59", "43", "15", "88"]
LETTERS = "ABCDEFGHKLMNPRSTUVXYZ"


@dataclass
class LaneHandle:
    id: uuid.UUID
    code: str
    direction: str
    vehicle_class: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class LotHandle:
    id: uuid.UUID
    code: str
    operator_id: uuid.UUID
    lanes: dict[str, LaneHandle] = field(default_factory=dict)

    @property
    def entry(self) -> LaneHandle:
        return next(lane for lane in self.lanes.values() if lane.direction == "entry")

    @property
    def exit(self) -> LaneHandle:
        return next(lane for lane in self.lanes.values() if lane.direction == "exit")


async def make_lot(
    sm: async_sessionmaker[AsyncSession],
    *,
    capacities: dict[str, int],
    lanes: tuple[tuple[str, str, str], ...] = (("E1", "entry", "car_small"), ("X1", "exit", "car_small")),
    tariff_id: str = "hanoi-44-2017",
    zone: str = "urban",
) -> LotHandle:
    suffix = uuid.uuid4().hex[:10].upper()
    async with sm() as db:
        op = Operator(
            id=uuid.uuid4(),
            code=f"OP-{suffix}",
            name="Test operator",
            address="Hà Nội",
            tax_code="0100000000",
            invoice_series_code=series_code(),
            invoice_symbol_letters="TT",
        )
        db.add(op)
        await db.flush()
        lot = Lot(
            id=uuid.uuid4(),
            operator_id=op.id,
            code=f"LOT-{suffix}",
            name="Test lot",
            address="Hà Nội",
            latitude=Decimal("21.03"),
            longitude=Decimal("105.85"),
            tariff_id=tariff_id,
            tariff_zone=zone,
        )
        db.add(lot)
        await db.flush()
        for vclass, cap in capacities.items():
            db.add(LotCapacity(lot_id=lot.id, vehicle_class=vclass, capacity=cap, occupied=0))
        handle = LotHandle(lot.id, lot.code, op.id)
        for code, direction, vclass in lanes:
            secret = new_secret()
            lane = Lane(
                id=uuid.uuid4(),
                lot_id=lot.id,
                code=code,
                direction=direction,
                vehicle_class=vclass,
                credential_hash=hash_secret(secret),
            )
            db.add(lane)
            handle.lanes[code] = LaneHandle(lane.id, code, direction, vclass, make_token(lane.id, secret))
        await db.commit()
    # Every operator signs its e-invoices with its own certificate (a self-signed one in tests).
    ensure_demo_credentials(get_invoice_settings().cert_dir, op.code, op.name, op.tax_code)
    return handle


def series_code() -> str:
    """A random 5-character tax-authority series code; unique per operator, as the tax authority issues it
    (4 hex characters collided between the hundreds of test operators of one run)."""
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(5))


def random_car_plate(rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    return f"{rng.choice(PROVINCES)}{rng.choice(LETTERS)}-{rng.randint(100, 999)}.{rng.randint(10, 99)}"


def event(
    kind: str, plate: str | None, *, confidence: float = 0.999, at: datetime | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "kind": kind,
        "plate": plate,
        "confidence": confidence,
        "captured_at": (at or datetime.now(UTC)).isoformat(),
        **extra,
    }


@dataclass
class StaffHandle:
    id: uuid.UUID
    email: str
    password: str
    role: str
    operator_id: uuid.UUID
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_staff(
    sm: async_sessionmaker[AsyncSession],
    operator_id: uuid.UUID,
    role: str,
    *,
    lot_ids: tuple[uuid.UUID, ...] = (),
    token_role: str | None = None,
) -> StaffHandle:
    """A staff account of `operator_id` (optionally limited to `lot_ids`) with an API token of its role."""
    from parking.staff import service as staff_service

    email = f"{role}-{uuid.uuid4().hex[:10]}@staff.example.vn"
    password = "correct horse battery " + uuid.uuid4().hex[:6]
    async with sm() as db:
        user = await staff_service.create_user(
            db, operator_id=operator_id, email=email, name=f"Test {role}", role=role, password=password,
            lot_ids=lot_ids, actor="test",
        )  # fmt: skip
        me = await staff_service.principal(db, user, role=role, via="token")
        _, raw = await staff_service.create_token(
            db, me, name="test", role=token_role or role, expires_days=None, now=datetime.now(UTC)
        )
        await db.commit()
    return StaffHandle(user.id, email, password, role, operator_id, raw)
