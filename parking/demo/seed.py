"""Seed the demo: one operator, a car lot and a motorbike lot in Hanoi, an entry and an exit lane each.

Idempotent: a second run finds what exists. Lane secrets are only stored hashed, so the plain tokens the
demo's gate agents need are written to ``<data_dir>/demo/lanes.json`` (git-ignored); if that file is lost
the secrets are rotated.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parking.lanes.auth import hash_secret, make_token, new_secret
from parking.models import Lane, Lot, LotCapacity, Operator


@dataclass(frozen=True)
class LotSpec:
    code: str
    name: str
    address: str
    lat: str
    lon: str
    tariff_id: str
    zone: str
    capacities: dict[str, int]
    lanes: tuple[tuple[str, str, str], ...]  # (code, direction, vehicle class)
    hours: tuple[time, time] | None = None  # local opening and closing time; None: around the clock


DEMO_OPERATOR = {
    "code": "HNP-DEMO",
    "name": "Công ty Demo Trông giữ xe Hà Nội",
    "address": "1 Lý Thái Tổ, Hoàn Kiếm, Hà Nội",
    "tax_code": "0100000000",
    "invoice_series_code": "A1B2C",
    "invoice_symbol_letters": "PK",
}

DEMO_LOTS = (
    LotSpec(
        "HK-CAR-01",
        "Bãi ô tô Lý Thái Tổ",
        "Lý Thái Tổ, phường Hoàn Kiếm, Hà Nội",
        "21.028511",
        "105.854164",
        "hanoi-44-2017",
        "urban",
        {"car_small": 40, "car_large": 6},
        (("E1", "entry", "car_small"), ("X1", "exit", "car_small")),
    ),
    LotSpec(
        "HK-MOTO-01",
        "Bãi xe máy Đinh Tiên Hoàng",
        "Đinh Tiên Hoàng, phường Hoàn Kiếm, Hà Nội",
        "21.030653",
        "105.852382",
        "hanoi-44-2017",
        "urban",
        {"motorbike": 300, "bicycle": 40},
        (("E1", "entry", "motorbike"), ("X1", "exit", "motorbike")),
        (time(6), time(23)),
    ),
)


def read_tokens(path: Path) -> dict[str, str]:
    return dict(json.loads(path.read_text())) if path.exists() else {}


def write_tokens(path: Path, tokens: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tokens, indent=2))
    path.chmod(0o600)


async def seed_demo(db: AsyncSession, known: dict[str, str]) -> dict[str, Any]:
    """Create what is missing; return {lots, lanes: [{lot, code, id, direction, vehicle_class, token}], tokens}.

    ``known`` maps "LOT/LANE" to the plain tokens from an earlier run; the caller stores the returned tokens.
    """
    known = dict(known)
    op = (await db.execute(select(Operator).where(Operator.code == DEMO_OPERATOR["code"]))).scalar_one_or_none()
    if op is None:
        op = Operator(id=uuid.uuid4(), **DEMO_OPERATOR)
        db.add(op)
        await db.flush()
    lanes_out: list[dict[str, Any]] = []
    lots_out: list[dict[str, Any]] = []
    for spec in DEMO_LOTS:
        lot = (await db.execute(select(Lot).where(Lot.code == spec.code))).scalar_one_or_none()
        if lot is None:
            lot = Lot(
                id=uuid.uuid4(),
                operator_id=op.id,
                code=spec.code,
                name=spec.name,
                address=spec.address,
                latitude=Decimal(spec.lat),
                longitude=Decimal(spec.lon),
                tariff_id=spec.tariff_id,
                tariff_zone=spec.zone,
                opens_at=spec.hours[0] if spec.hours else None,
                closes_at=spec.hours[1] if spec.hours else None,
            )
            db.add(lot)
            await db.flush()
            for vclass, cap in spec.capacities.items():
                db.add(LotCapacity(lot_id=lot.id, vehicle_class=vclass, capacity=cap, occupied=0))
        lots_out.append({"id": str(lot.id), "code": lot.code, "name": lot.name})
        for code, direction, vclass in spec.lanes:
            lane = (await db.execute(select(Lane).where(Lane.lot_id == lot.id, Lane.code == code))).scalar_one_or_none()
            token = known.get(f"{spec.code}/{code}")
            if lane is None:
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
                token = make_token(lane.id, secret)
            elif token is None or hash_secret(token.partition(".")[2]) != lane.credential_hash:
                secret = new_secret()
                await db.execute(update(Lane).where(Lane.id == lane.id).values(credential_hash=hash_secret(secret)))
                token = make_token(lane.id, secret)
            known[f"{spec.code}/{code}"] = token
            lanes_out.append(
                {
                    "lot": spec.code,
                    "code": code,
                    "id": str(lane.id),
                    "direction": direction,
                    "vehicle_class": vclass,
                    "token": token,
                }
            )
    await db.flush()
    return {
        "operator": op.code,
        "operator_row": {"code": op.code, "name": op.name, "tax_code": op.tax_code},
        "lots": lots_out,
        "lanes": lanes_out,
        "tokens": known,
    }
