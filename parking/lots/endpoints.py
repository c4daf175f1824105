"""Lots with their address, tariff and live occupancy (``/v1/lots``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from parking.kit.deps import DB, State
from parking.lots import repository as repo
from parking.occupancy.service import lot_snapshot

router = APIRouter(tags=["lots"])


@router.get("/v1/lots", summary="All lots with address, coordinates, tariff and live occupancy")
async def list_lots(db: DB, state: State) -> dict[str, Any]:
    lots = await repo.all_lots(db)
    occ = {o["lot_id"]: o for o in await lot_snapshot(db, state.redis)}
    return {
        "lots": [
            {
                "id": str(lot.id),
                "code": lot.code,
                "name": lot.name,
                "address": lot.address,
                "latitude": float(lot.latitude),
                "longitude": float(lot.longitude),
                "tariff_id": lot.tariff_id,
                "tariff_zone": lot.tariff_zone,
                "occupancy": occ.get(str(lot.id), {}).get("classes", {}),
            }
            for lot in lots
        ]
    }
