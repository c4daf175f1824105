"""The city's feed (iHanoi, the transport department): read-only views named after APDS where it fits
(Place, Rate, Occupancy with Supply), daily aggregates per lot, and signed outgoing webhooks. Never commits.

Webhooks go through the transactional outbox (retried with backoff, dead after 12 failures); every attempt is
written to ``city_webhook_deliveries`` in its own transaction, so a failed attempt stays in the log although
the outbox rolls the handler's work back to retry it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from parking.city import repository as repo
from parking.drivers.wording import vehicle_class_en, vehicle_class_vi
from parking.kit import outbox
from parking.kit.errors import AppError
from parking.models import CityClient, CityWebhook, CityWebhookDelivery, Lot, LotCapacity
from parking.places.service import live_counts, opening_hours, stay_prices
from parking.pricing import TariffBook

log = structlog.get_logger("parking.city")

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TOPIC_WEBHOOK = "city.webhook"
LAST_SENT_KEY = "city:availability:last"


async def _lots(db: AsyncSession) -> tuple[list[Lot], dict[uuid.UUID, dict[str, tuple[int, int]]]]:
    lots = list((await db.execute(select(Lot).order_by(Lot.code))).scalars())
    caps: dict[uuid.UUID, dict[str, tuple[int, int]]] = {}
    for c in (await db.execute(select(LotCapacity))).scalars():
        caps.setdefault(c.lot_id, {})[c.vehicle_class] = (c.capacity, c.occupied)
    return lots, caps


def _place(lot: Lot, caps: dict[str, tuple[int, int]], now: datetime) -> dict[str, Any]:
    return {
        "id": lot.code,
        "name": lot.name,
        "address": lot.address,
        "location": {"type": "Point", "coordinates": [float(lot.longitude), float(lot.latitude)]},
        "operatingHours": opening_hours(lot.opens_at, lot.closes_at, now),
        "paymentMethods": [
            m for m, ok in (("linkedAccount", lot.accepts_linked), ("vietQR", lot.accepts_vietqr)) if ok
        ],
        "supply": [
            {"vehicleType": vc, "name_vi": vehicle_class_vi(vc), "name_en": vehicle_class_en(vc), "capacity": cap}
            for vc, (cap, _) in sorted(caps.items())
        ],
    }


async def places(db: AsyncSession) -> list[dict[str, Any]]:
    lots, caps = await _lots(db)
    now = datetime.now(UTC)
    return [_place(lot, caps.get(lot.id, {}), now) for lot in lots]


async def occupancy(db: AsyncSession, redis: Redis | None) -> list[dict[str, Any]]:
    lots, caps = await _lots(db)
    live, live_at = await live_counts(redis, [lot.id for lot in lots])
    now = datetime.now(UTC)
    out = []
    for lot in lots:
        for vc, (cap, pg_occ) in sorted(caps.get(lot.id, {}).items()):
            mirror = live.get(lot.id, {}).get(vc)
            occ = mirror if mirror is not None else pg_occ
            out.append(
                {
                    "placeId": lot.code,
                    "vehicleType": vc,
                    "capacity": cap,
                    "occupied": min(max(occ, 0), cap),
                    "available": max(cap - occ, 0),
                    "observedAt": (live_at if mirror is not None and live_at else now).isoformat(),
                    "source": "redis" if mirror is not None else "postgres",
                }
            )
    return out


async def rates(db: AsyncSession, book: TariffBook) -> list[dict[str, Any]]:
    lots, caps = await _lots(db)
    now = datetime.now(UTC)
    out = []
    for lot in lots:
        for vc in sorted(caps.get(lot.id, {})):
            price = stay_prices(book, lot.tariff_id, lot.tariff_zone, vc, now)
            out.append(
                {
                    "placeId": lot.code,
                    "vehicleType": vc,
                    "currency": "VND",
                    "rate": price,
                    "validAt": now.isoformat(),
                }
            )
    return out


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), tzinfo=VN_TZ)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


async def aggregates(db: AsyncSession, day: date, lot_code: str | None) -> dict[str, Any]:
    start, end = day_bounds(day)
    rows = await repo.daily_aggregates(db, start, end, lot_code)
    return {
        "date": day.isoformat(),
        "timezone": "Asia/Ho_Chi_Minh",
        "lots": [
            {
                "placeId": r["code"],
                "name": r["name"],
                "entries": int(r["entries"]),
                "exits": int(r["exits"]),
                "cashless_revenue_vnd": int(r["cashless_revenue_vnd"]),
                "invoices_issued": int(r["invoices_issued"]),
                "disputes": int(r["disputes"]),
                "cash_collection_reports": int(r["cash_collection_reports"]),
                "other_problem_reports": int(r["other_problem_reports"]),
                "ratings": int(r["ratings"]),
                "average_stars": round(r["average_stars"], 2) if r["average_stars"] is not None else None,
            }
            for r in rows
        ],
    }


# ── clients and webhooks ───────────────────────────────────────────────────────────────────────────────────


async def create_client(db: AsyncSession, name: str, scopes: list[str], *, actor: str) -> tuple[CityClient, str]:
    from parking.audit.service import record
    from parking.city.auth import make_key

    cid = uuid.uuid4()
    key, key_hash = make_key(cid)
    c = CityClient(id=cid, name=name, key_hash=key_hash, scopes=sorted(set(scopes)), enabled=True)
    db.add(c)
    await db.flush()
    await record(
        db, actor=actor, action="city.client_created", entity="city_client", entity_id=str(cid),
        data={"name": name, "scopes": c.scopes},
    )  # fmt: skip
    return c, key


async def add_webhook(db: AsyncSession, client: CityClient, url: str, events: list[str]) -> CityWebhook:
    w = CityWebhook(
        id=uuid.uuid4(),
        client_id=client.id,
        url=url,
        secret="whsec_" + secrets.token_urlsafe(32),
        events=sorted(set(events)),
        enabled=True,
    )
    db.add(w)
    await db.flush()
    return w


async def webhooks_of(db: AsyncSession, client: CityClient) -> list[CityWebhook]:
    return list(
        (
            await db.execute(
                select(CityWebhook)
                .where(CityWebhook.client_id == client.id, CityWebhook.enabled.is_(True))
                .order_by(CityWebhook.created_at)
            )
        )
        .scalars()
        .all()
    )


async def remove_webhook(db: AsyncSession, client: CityClient, webhook_id: uuid.UUID) -> None:
    """Disable (not delete: the delivery log stays) one of the client's webhooks."""
    w = (
        await db.execute(select(CityWebhook).where(CityWebhook.id == webhook_id, CityWebhook.client_id == client.id))
    ).scalar()
    if w is None:
        raise AppError("webhook_not_found", "No such webhook for this client.", 404)
    w.enabled = False
    await db.flush()


async def deliveries(db: AsyncSession, client: CityClient, webhook_id: uuid.UUID) -> list[CityWebhookDelivery]:
    w = (
        await db.execute(select(CityWebhook).where(CityWebhook.id == webhook_id, CityWebhook.client_id == client.id))
    ).scalar()
    if w is None:
        raise AppError("webhook_not_found", "No such webhook for this client.", 404)
    rows = await db.execute(
        select(CityWebhookDelivery)
        .where(CityWebhookDelivery.webhook_id == webhook_id)
        .order_by(CityWebhookDelivery.created_at.desc())
        .limit(200)
    )
    return list(rows.scalars())


async def enqueue_event(db: AsyncSession, event: str, data: dict[str, Any]) -> int:
    """In the caller's transaction: one outbox message per enabled webhook subscribed to ``event``."""
    hooks = (
        await db.execute(
            select(CityWebhook.id).where(CityWebhook.enabled.is_(True), CityWebhook.events.contains([event]))
        )
    ).scalars()
    event_id = str(uuid.uuid4())
    n = 0
    for hid in hooks:
        body = {"id": event_id, "type": event, "created_at": datetime.now(UTC).isoformat(), "data": data}
        await outbox.enqueue(
            db, TOPIC_WEBHOOK, {"webhook_id": str(hid), "body": body}, key=f"city-webhook:{hid}:{event_id}"
        )
        n += 1
    return n


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Stripe-style: ``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``; the timestamp defeats replays."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """What a receiver does (documented, and used by the tests)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, ts, body), header)


@outbox.handler(TOPIC_WEBHOOK)
async def deliver_webhook(db: AsyncSession, payload: dict[str, Any], ctx: outbox.OutboxContext) -> None:
    hook = (await db.execute(select(CityWebhook).where(CityWebhook.id == uuid.UUID(payload["webhook_id"])))).scalar()
    if hook is None or not hook.enabled:
        return  # removed or disabled since: nothing to deliver
    body = orjson.dumps(payload["body"])
    ts = int(time.time())
    key = f"city-webhook:{hook.id}:{payload['body']['id']}"
    status: int | None = None
    error: str | None = None
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            r = await http.post(
                hook.url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Parking-Event": str(payload["body"]["type"]),
                    "X-Parking-Delivery": str(payload["body"]["id"]),
                    "X-Parking-Signature": signature(hook.secret, ts, body),
                },
            )
        status = r.status_code
        if not 200 <= r.status_code < 300:
            error = f"HTTP {r.status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    async with ctx.sessionmaker() as log_db:  # its own transaction: the log survives the retry's rollback
        log_db.add(
            CityWebhookDelivery(
                id=uuid.uuid4(),
                webhook_id=hook.id,
                delivery_key=key,
                event=str(payload["body"]["type"]),
                ok=error is None,
                status_code=status,
                error=error,
            )
        )
        await log_db.commit()
    if error is not None:
        raise RuntimeError(f"webhook {hook.id} delivery failed: {error}")


async def availability_changes(db: AsyncSession, redis: Redis | None) -> dict[str, int]:
    """Enqueue an ``availability`` event for every lot and class whose free spaces changed since the last run;
    returns the figures sent, which the caller records with ``mark_sent`` once its transaction committed.

    Run by a scheduled job in each API instance; a transaction-scoped advisory lock makes one instance do it at
    a time. The last-sent figures live in Redis (derived state: if Redis lost them, everything is sent once
    more, which a receiver takes as a refresh).
    """
    got = (await db.execute(text("SELECT pg_try_advisory_xact_lock(hashtext('city.availability'))"))).scalar()
    if not got or redis is None:
        return {}
    current = {f"{o['placeId']}/{o['vehicleType']}": o for o in await occupancy(db, redis)}
    try:
        raw = await redis.hgetall(LAST_SENT_KEY)
    except (RedisError, OSError):
        return {}
    last = {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()}
    changed = [o for k, o in current.items() if last.get(k) != o["available"]]
    if changed:
        await enqueue_event(db, "availability", {"occupancy": changed})
    return {f"{o['placeId']}/{o['vehicleType']}": int(o["available"]) for o in changed}


async def mark_sent(redis: Redis | None, sent: dict[str, int]) -> None:
    if redis is None or not sent:
        return
    try:
        await redis.hset(LAST_SENT_KEY, mapping=sent)  # type: ignore[arg-type]
    except (RedisError, OSError) as exc:
        log.warning("city.mark_sent_failed", error=str(exc))
