"""Find a space: GET /v1/places against real PostgreSQL (earthdistance) and the Redis occupancy mirror."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.drivers.settings import DriverSettings, use_driver_settings
from parking.kit import ratelimit
from parking.kit.errors import AppError
from parking.models import Lot
from parking.places import repository
from parking.places.service import is_open
from parking.pricing import quote
from parking.sessions.fees import load_book
from parking.settings import REPO_ROOT
from tests.factories import LotHandle, event, make_lot


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6378168.0  # earthdistance's earth() radius
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


async def place_lot(
    sm: async_sessionmaker[AsyncSession], lat: float, lon: float, capacities: dict[str, int], **cols: object
) -> LotHandle:
    handle = await make_lot(sm, capacities=capacities)
    async with sm() as db:
        await db.execute(
            update(Lot)
            .where(Lot.id == handle.id)
            .values(latitude=Decimal(f"{lat:.6f}"), longitude=Decimal(f"{lon:.6f}"), **cols)
        )
        await db.commit()
    return handle


@pytest.fixture
def origin() -> tuple[float, float]:
    # A random spot per test, far from the other tests' lots (which all sit at 21.03, 105.85).
    rng = random.Random()
    return round(rng.uniform(-60, 60), 4), round(rng.uniform(-170, 170), 4)


async def test_nearest_first_with_distance_and_radius(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], origin: tuple[float, float]
) -> None:
    lat, lon = origin
    far = await place_lot(sessionmaker, lat + 0.006, lon, {"car_small": 10})  # ~670 m
    near = await place_lot(sessionmaker, lat + 0.002, lon + 0.001, {"car_small": 10})  # ~250 m
    outside = await place_lot(sessionmaker, lat + 0.02, lon, {"car_small": 10})  # ~2.2 km
    moto = await place_lot(sessionmaker, lat - 0.003, lon, {"motorbike": 50})  # ~330 m
    r = await client.get("/v1/places", params={"lat": lat, "lon": lon, "radius_m": 1000})
    assert r.status_code == 200, r.text
    codes = [p["code"] for p in r.json()["places"]]
    assert codes == [near.code, moto.code, far.code]
    assert outside.code not in codes
    for p in r.json()["places"]:
        expect = haversine_m(lat, lon, p["latitude"], p["longitude"])
        assert abs(p["distance_m"] - expect) <= 0.01 * expect + 1
    cars = await client.get(
        "/v1/places", params={"lat": lat, "lon": lon, "radius_m": 1000, "vehicle_class": "car_small"}
    )
    assert [p["code"] for p in cars.json()["places"]] == [near.code, far.code]
    assert all(set(p["availability"]) == {"car_small"} for p in cars.json()["places"])


async def test_free_spaces_follow_the_gate_from_the_redis_mirror_or_postgres(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    origin: tuple[float, float],
    redis_url: str,
) -> None:
    lat, lon = origin
    lot = await place_lot(sessionmaker, lat, lon, {"car_small": 5, "car_large": 1})
    params: dict[str, str | float] = {"lat": lat, "lon": lon, "radius_m": 100, "vehicle_class": "car_small"}
    before = (await client.get("/v1/places", params=params)).json()["places"][0]["availability"]["car_small"]
    assert before["free"] == 5
    for plate in ("30A-111.11", "30A-222.22"):
        r = await client.post("/v1/gate/events", json=event("entry", plate), headers=lot.entry.headers)
        assert r.status_code == 200, r.text
    place = (await client.get("/v1/places", params=params)).json()["places"][0]
    assert place["availability"]["car_small"] == {**before, "occupied": 2, "free": 3}
    assert place["availability_source"] == "redis"
    assert datetime.now(UTC) - datetime.fromisoformat(place["availability_at"]) < timedelta(minutes=1)
    redis = Redis.from_url(redis_url)
    try:
        await redis.delete(f"occ:{lot.id}")  # the mirror lost this lot: PostgreSQL's counters answer
        place = (await client.get("/v1/places", params=params)).json()["places"][0]
    finally:
        await redis.aclose()
    assert place["availability_source"] == "postgres"
    assert place["availability"]["car_small"]["free"] == 3


async def test_prices_of_stays_are_the_pricing_engines(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], origin: tuple[float, float]
) -> None:
    lat, lon = origin
    await place_lot(sessionmaker, lat, lon, {"car_small": 5})
    r = await client.get("/v1/places", params={"lat": lat, "lon": lon, "radius_m": 50})
    place = r.json()["places"][0]
    rate = place["availability"]["car_small"]["rate"]
    at = datetime.fromisoformat(r.json()["at"])
    book = load_book(REPO_ROOT / "config")
    expected = [
        quote(
            book,
            tariff_id="hanoi-44-2017",
            zone="urban",
            vehicle_class="car_small",
            entry=at,
            exit=at + timedelta(hours=h),
        ).total_vnd
        for h in (1, 2, 4)
    ]
    assert [s["total_vnd"] for s in rate["stays"]] == expected == [25000, 50000, 120000]
    assert rate["tariff_id"] == "hanoi-44-2017" and rate["tariff_version"] == 1
    assert place["payment"] == {"linked_account": True, "vietqr": True, "cash": False}
    assert place["opening_hours"]["always_open"] is True


async def test_opening_hours_and_payment_ways_are_shown(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], origin: tuple[float, float]
) -> None:
    lat, lon = origin
    await place_lot(
        sessionmaker, lat, lon, {"motorbike": 5}, opens_at=time(6), closes_at=time(22), accepts_linked=False
    )
    place = (await client.get("/v1/places", params={"lat": lat, "lon": lon, "radius_m": 50})).json()["places"][0]
    hours = place["opening_hours"]
    assert (hours["opens_at"], hours["closes_at"], hours["always_open"]) == ("06:00", "22:00", False)
    assert hours["open_now"] == is_open(time(6), time(22), datetime.now(UTC))
    assert place["payment"]["linked_account"] is False and place["payment"]["vietqr"] is True


async def test_the_search_uses_the_gist_index(db: AsyncSession) -> None:
    await db.execute(text("SET LOCAL enable_seqscan = off"))
    sql = repository._NEAR.format(class_filter="")
    plan = (
        await db.execute(text("EXPLAIN " + sql), {"lat": 21.03, "lon": 105.85, "radius": 1000, "limit": 20})
    ).scalars()
    assert "ix_lots_earth" in "\n".join(plan)


async def test_bad_coordinates_are_refused_in_the_error_shape(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/places", params={"lat": 91, "lon": 105})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = await client.get("/v1/places", params={"lat": 21, "lon": 105, "vehicle_class": "tank"})
    assert r.status_code == 422


async def test_rate_limit_answers_429_beyond_the_limit(client: httpx.AsyncClient) -> None:
    use_driver_settings(DriverSettings(places_rate_per_minute=3))
    try:
        # Earlier tests of this minute count too, and a new minute may start in the middle: so at most 3
        # answers per minute (two minutes at most) and refusals after that.
        answers = [await client.get("/v1/places", params={"lat": -80, "lon": 0}) for _ in range(8)]
    finally:
        use_driver_settings(None)
    codes = [a.status_code for a in answers]
    assert set(codes) <= {200, 429} and codes.count(200) <= 6 and 429 in codes
    refused = next(a for a in answers if a.status_code == 429).json()["error"]
    assert refused["code"] == "rate_limited" and refused["details"]["limit_per_minute"] == 3
    r = await client.get("/v1/places", params={"lat": -80, "lon": 0})
    assert r.status_code == 200


async def test_rate_window_counts_per_client_and_minute(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        scope, now = f"t{random.random()}", 1_800_000_000.0
        for _ in range(2):
            await ratelimit.check(redis, scope, "a", 2, now=now)
        with pytest.raises(AppError) as err:
            await ratelimit.check(redis, scope, "a", 2, now=now)
        assert err.value.status == 429 and err.value.code == "rate_limited"
        assert await ratelimit.check(redis, scope, "b", 2, now=now) == 1  # another client
        assert await ratelimit.check(redis, scope, "a", 2, now=now + 60) == 1  # the next minute
    finally:
        await redis.aclose()


@given(
    st.times().map(lambda t: t.replace(microsecond=0)),
    st.times().map(lambda t: t.replace(microsecond=0)),
    st.datetimes(timezones=st.just(UTC)),
)
def test_open_exactly_inside_the_hours(opens: time, closes: time, at: datetime) -> None:
    from zoneinfo import ZoneInfo

    local = at.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).time().replace(tzinfo=None)
    if opens == closes:
        expected = local >= opens or local < closes  # closes the next day at the same time: always open
    elif opens < closes:
        expected = opens <= local < closes
    else:
        expected = not (closes <= local < opens)
    assert is_open(opens, closes, at) == expected
