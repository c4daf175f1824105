"""The city feed over HTTP (``/v1/city``): read-only, per-client keys with scopes; webhook management."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from parking.city import schemas as S
from parking.city import service
from parking.city.auth import AggregatesReader, OccupancyReader, PlacesReader, RatesReader, WebhookManager
from parking.drivers.staff import Admin
from parking.kit.deps import DB, State
from parking.kit.errors import AppError
from parking.models.city import CITY_SCOPES, WEBHOOK_EVENTS

router = APIRouter(prefix="/v1/city", tags=["city feed"])
operator_router = APIRouter(prefix="/v1/operator", tags=["operator: city feed"])

AUTH = "Authorization: Bearer cc_<client>.<secret>, a key with the scope named in the summary."


def _example(value: Any) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {"application/json": {"example": value}}}, 401: {"description": "No or a wrong key"}}


@router.get(
    "/places",
    summary="Places (scope places:read): every lot with location, hours, payment methods and supply",
    description=AUTH,
    responses=_example(
        {
            "places": [
                {
                    "id": "HK-CAR-01",
                    "name": "Bãi ô tô Lý Thái Tổ",
                    "address": "Lý Thái Tổ, phường Hoàn Kiếm, Hà Nội",
                    "location": {"type": "Point", "coordinates": [105.854164, 21.028511]},
                    "operatingHours": {"always_open": True, "open_now": True, "text_vi": "Mở cửa 24/24"},
                    "paymentMethods": ["linkedAccount", "vietQR"],
                    "supply": [{"vehicleType": "car_small", "name_vi": "Ô tô đến 9 chỗ", "capacity": 40}],
                }
            ]
        }
    ),
)
async def places(db: DB, client: PlacesReader) -> dict[str, Any]:
    return {"places": await service.places(db)}


@router.get(
    "/occupancy",
    summary="Live occupancy (scope occupancy:read): per place and vehicle type, with its observation time",
    description=AUTH,
    responses=_example(
        {
            "occupancy": [
                {
                    "placeId": "HK-CAR-01",
                    "vehicleType": "car_small",
                    "capacity": 40,
                    "occupied": 12,
                    "available": 28,
                    "observedAt": "2026-12-01T03:00:00+00:00",
                    "source": "redis",
                }
            ]
        }
    ),
)
async def occupancy(db: DB, state: State, client: OccupancyReader) -> dict[str, Any]:
    return {"occupancy": await service.occupancy(db, state.redis), "at": datetime.now(UTC).isoformat()}


@router.get(
    "/rates",
    summary="Rates (scope rates:read): the tariff in force per place and vehicle type, with 1/2/4 h prices",
    description=AUTH,
)
async def rates(db: DB, state: State, client: RatesReader) -> dict[str, Any]:
    return {"rates": await service.rates(db, state.tariffs)}


@router.get(
    "/aggregates",
    summary="Daily aggregates per lot (scope aggregates:read): entries, exits, cashless revenue, invoices, "
    "disputes, cash-collection reports",
    description=AUTH + " The day is a local (Asia/Ho_Chi_Minh) calendar day.",
    responses=_example(
        {
            "date": "2026-12-01",
            "timezone": "Asia/Ho_Chi_Minh",
            "lots": [
                {
                    "placeId": "HK-CAR-01",
                    "name": "Bãi ô tô Lý Thái Tổ",
                    "entries": 120,
                    "exits": 118,
                    "cashless_revenue_vnd": 5_400_000,
                    "invoices_issued": 118,
                    "disputes": 1,
                    "cash_collection_reports": 0,
                    "other_problem_reports": 2,
                    "ratings": 5,
                    "average_stars": 4.2,
                }
            ],
        }
    ),
)
async def aggregates(
    db: DB,
    client: AggregatesReader,
    day: Annotated[date | None, Query(description="Default: today in Hanoi")] = None,
    place: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="One lot's code")] = None,
) -> dict[str, Any]:
    day = day or datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    return await service.aggregates(db, day, place)


@router.post(
    "/webhooks",
    response_model=S.WebhookOut,
    status_code=201,
    summary="Subscribe to signed events (scope webhooks:manage): availability changes, alerts",
    description=AUTH + " Each delivery carries X-Parking-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "
    "'<t>.' + body)>; deliveries are retried with backoff through the outbox and logged.",
)
async def add_webhook(body: S.WebhookIn, db: DB, client: WebhookManager) -> S.WebhookOut:
    bad = [e for e in body.events if e not in WEBHOOK_EVENTS]
    if bad:
        raise AppError("unknown_event", f"Unknown events {bad}; known: {list(WEBHOOK_EVENTS)}.", 422)
    w = await service.add_webhook(db, client, body.url, body.events)
    return S.WebhookOut(id=w.id, url=w.url, events=w.events, enabled=w.enabled, secret=w.secret)


@router.get("/webhooks", response_model=list[S.WebhookOut], summary="My webhooks (scope webhooks:manage)")
async def webhooks(db: DB, client: WebhookManager) -> list[S.WebhookOut]:
    return [
        S.WebhookOut(id=w.id, url=w.url, events=w.events, enabled=w.enabled)
        for w in await service.webhooks_of(db, client)
    ]


@router.delete("/webhooks/{webhook_id}", status_code=204, summary="Stop a webhook (scope webhooks:manage)")
async def remove_webhook(webhook_id: uuid.UUID, db: DB, client: WebhookManager) -> None:
    await service.remove_webhook(db, client, webhook_id)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=list[S.DeliveryOut],
    summary="Delivery log of a webhook, newest first (scope webhooks:manage)",
)
async def deliveries(webhook_id: uuid.UUID, db: DB, client: WebhookManager) -> list[S.DeliveryOut]:
    return [
        S.DeliveryOut(event=d.event, ok=d.ok, status_code=d.status_code, error=d.error, created_at=d.created_at)
        for d in await service.deliveries(db, client, webhook_id)
    ]


@operator_router.post(
    "/city-clients",
    response_model=S.ClientOut,
    status_code=201,
    summary="Create a city-feed client key (admin)",
    description="The city feed publishes every lot of the platform (its open data), so a client key is not scoped "
    "to one operator's lots.",
)
async def create_client(body: S.ClientIn, db: DB, staff: Admin) -> S.ClientOut:
    bad = [s for s in body.scopes if s not in CITY_SCOPES]
    if bad:
        raise AppError("unknown_scope", f"Unknown scopes {bad}; known: {list(CITY_SCOPES)}.", 422)
    c, key = await service.create_client(db, body.name, body.scopes, actor=staff.actor)
    return S.ClientOut(id=c.id, name=c.name, scopes=c.scopes, key=key)
