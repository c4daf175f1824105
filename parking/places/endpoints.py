"""Find a space (``GET /v1/places``): public, no sign-in, rate-limited per client address."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from parking.drivers.settings import get_driver_settings
from parking.drivers.staff import Desk
from parking.forecast import service as forecast_service
from parking.kit import ratelimit
from parking.kit.deps import DB, State
from parking.places import service
from parking.places.schemas import LotSettingsIn, LotSettingsOut, PlacesOut

router = APIRouter(tags=["places"])
operator_router = APIRouter(prefix="/v1/operator", tags=["operator: lots"])

VehicleClass = Annotated[
    str | None,
    Query(pattern="^(bicycle|motorbike|car_small|car_large)$", description="Only lots that take this class"),
]


@router.get(
    "/v1/places",
    response_model=PlacesOut,
    summary="Find a space: lots near a point, nearest first, with live free spaces and prices",
    responses={429: {"description": "Too many requests from this client (error code rate_limited)"}},
)
async def places(
    request: Request,
    db: DB,
    state: State,
    lat: Annotated[float, Query(ge=-90, le=90, examples=[21.0285])],
    lon: Annotated[float, Query(ge=-180, le=180, examples=[105.8542])],
    radius_m: Annotated[int, Query(ge=1, le=50_000, examples=[1000])] = 1000,
    vehicle_class: VehicleClass = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PlacesOut:
    s = get_driver_settings()
    await ratelimit.check(state.redis, "places", ratelimit.client_key(request), s.places_rate_per_minute)
    out = await service.find_places(
        db,
        state.redis,
        state.tariffs,
        lat=lat,
        lon=lon,
        radius_m=min(radius_m, s.places_max_radius_m),
        vehicle_class=vehicle_class,
        limit=limit,
    )
    return PlacesOut.model_validate(out)


@router.get(
    "/v1/places/{code}/forecast",
    summary="Will it still be free when I arrive? Free spaces 15-60 min ahead with an 80% band",
    description="Learnt from the lot's own history (time of day, day of week, recent trend); see docs/forecast.md "
    "for its accuracy against naive baselines.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "placeId": "HK-CAR-01",
                        "vehicle_class": "car_small",
                        "capacity": 40,
                        "at": "2026-12-01T03:00:00+00:00",
                        "history_days": 28,
                        "available": True,
                        "band": "80% (10th-90th percentile of recent errors)",
                        "points": [
                            {
                                "minutes_ahead": 15,
                                "at": "2026-12-01T03:15:00+00:00",
                                "free": 12,
                                "free_low": 9,
                                "free_high": 15,
                            },
                            {
                                "minutes_ahead": 60,
                                "at": "2026-12-01T04:00:00+00:00",
                                "free": 6,
                                "free_low": 1,
                                "free_high": 12,
                            },
                        ],
                    }
                }
            }
        }
    },
)
async def place_forecast(
    code: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,32}$")],
    request: Request,
    db: DB,
    state: State,
    vehicle_class: Annotated[str, Query(pattern="^(bicycle|motorbike|car_small|car_large)$")],
) -> dict[str, Any]:
    await ratelimit.check(
        state.redis, "places", ratelimit.client_key(request), get_driver_settings().places_rate_per_minute
    )
    return await forecast_service.forecast(db, state.redis, code, vehicle_class)


@operator_router.patch(
    "/lots/{code}",
    response_model=LotSettingsOut,
    summary="A lot's settings: opening hours, payment ways, how long an unpaid VietQR holds the exit and then what",
)
async def lot_settings(
    code: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,32}$")], body: LotSettingsIn, db: DB, staff: Desk
) -> LotSettingsOut:
    lot = await service.update_lot_settings(db, code, body.model_dump(exclude_unset=True), lot_ids=staff.lot_ids)
    return LotSettingsOut(
        code=lot.code,
        opens_at=lot.opens_at.strftime("%H:%M") if lot.opens_at else None,
        closes_at=lot.closes_at.strftime("%H:%M") if lot.closes_at else None,
        accepts_linked=lot.accepts_linked,
        accepts_vietqr=lot.accepts_vietqr,
        qr_lane_wait_s=lot.qr_lane_wait_s,
        unpaid_qr_policy=lot.unpaid_qr_policy,
    )
