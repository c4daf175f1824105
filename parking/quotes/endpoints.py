from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query

from parking.kit.deps import DB, State
from parking.kit.errors import AppError
from parking.lots import repository as lots_repo
from parking.pricing import PricingError, parse_instant, quote

router = APIRouter(tags=["quotes"])


def _quote(state: State, *, tariff_id: str, zone: str, vehicle: str, entry: datetime, exit: datetime) -> dict[str, Any]:
    try:
        q = quote(state.tariffs, tariff_id=tariff_id, zone=zone, vehicle_class=vehicle, entry=entry, exit=exit)
    except PricingError as exc:
        raise AppError(exc.code, str(exc), 422, getattr(exc, "details", None) or {}) from None
    return q.to_dict()


def _instant(text: str, name: str) -> datetime:
    try:
        return parse_instant(text, name)
    except PricingError as exc:
        raise AppError(exc.code, str(exc), 422, {"field": name}) from None


@router.get("/v1/tariffs", summary="Every tariff version: validity, legal source, zones, vehicle classes")
async def tariffs(state: State) -> dict[str, Any]:
    return {"tariffs": state.tariffs.describe()}


@router.get("/v1/quote", summary="What-if quote: the fee of a stay, line by line")
async def what_if(
    state: State,
    tariff: str = Query(..., examples=["hanoi-44-2017"]),
    zone: str = Query(..., examples=["urban"]),
    vehicle: str = Query(..., examples=["motorbike"]),
    entry: str = Query(..., description="ISO 8601 with a UTC offset", examples=["2026-11-22T07:00:00+07:00"]),
    exit: str = Query(..., description="ISO 8601 with a UTC offset", examples=["2026-11-22T19:30:00+07:00"]),
) -> dict[str, Any]:
    return _quote(
        state, tariff_id=tariff, zone=zone, vehicle=vehicle, entry=_instant(entry, "entry"), exit=_instant(exit, "exit")
    )


@router.get("/v1/lots/{lot_id}/quote", summary="What-if quote at a lot's own tariff")
async def lot_quote(
    lot_id: uuid.UUID, db: DB, state: State, vehicle: str, entry: str, exit: str | None = None
) -> dict[str, Any]:
    lot = await lots_repo.get(db, lot_id)
    if lot is None:
        raise AppError("lot_not_found", f"No lot {lot_id}.", 404)
    end = _instant(exit, "exit") if exit else datetime.now(UTC)
    return _quote(
        state, tariff_id=lot.tariff_id, zone=lot.tariff_zone, vehicle=vehicle, entry=_instant(entry, "entry"), exit=end
    )
