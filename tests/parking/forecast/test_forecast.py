"""The free-space forecast: pure model properties, its edge over naive baselines on a generated history, and
the endpoint built from a lot's sessions in PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.forecast.history import generate, split
from parking.forecast.model import HORIZONS_MIN, Series, evaluate, fit, weekly_profile
from parking.models import ParkingSession
from tests.factories import LotHandle, random_car_plate

STEP = 5
PER_DAY = 1440 // STEP


@given(st.integers(0, 50), st.integers(1, 3), st.integers(0, 6))
@settings(max_examples=25, deadline=None)
def test_a_constant_lot_is_forecast_exactly_with_no_band(level: int, days: int, weekday: int) -> None:
    s = Series(np.full(days * 2 * PER_DAY, float(level)), 50, STEP, weekday, 0)
    f = fit(s)
    for hm in HORIZONS_MIN:
        y, lo, hi = f.predict(s, len(s.values) - 20, hm)
        assert abs(y - level) < 1e-6 and abs(lo - level) < 1e-6 and abs(hi - level) < 1e-6


@given(st.lists(st.integers(0, 30), min_size=PER_DAY * 2, max_size=PER_DAY * 2), st.integers(0, 600))
@settings(max_examples=25, deadline=None)
def test_predictions_stay_within_the_lot(values: list[int], i: int) -> None:
    s = Series(np.asarray(values, dtype=np.float64), 30, STEP, 2, 0)
    f = fit(s)
    for hm in HORIZONS_MIN:
        y, lo, hi = f.predict(s, min(i + 3, len(values) - 13), hm)
        assert all(0 <= v <= 30 for v in (lo, y, hi)) and lo <= hi


def test_profile_of_a_periodic_week_is_the_week() -> None:
    rng = np.random.default_rng(7)
    week = rng.integers(0, 40, size=7 * PER_DAY).astype(np.float64)
    s = Series(np.tile(week, 3), 40, STEP, 0, 0)
    assert np.allclose(weekly_profile(s), week)


def test_beats_both_naive_baselines_on_a_generated_history() -> None:
    s = generate(weeks=6, capacity=100, seed=11)
    train, rest = split(s, 28)
    calib, test = split(rest, 7)
    result = evaluate(fit(train, calibrate=calib), test, calib)
    for hm in (30, 60):
        r = result[f"{hm}min"]
        assert r["mae_model"] < r["mae_last_value"] and r["mae_model"] < r["mae_same_time_last_week"], r
        assert 0.6 <= r["band_80_coverage"] <= 0.95, r


async def test_forecast_endpoint_from_the_lots_sessions(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    now = datetime.now(UTC)
    r = await client.get(f"/v1/places/{lot.code}/forecast", params={"vehicle_class": "car_small"})
    assert r.status_code == 200 and r.json()["available"] is False  # no history yet: says so, guesses nothing
    # Three days of history: 3 cars every day 08:00-17:00 UTC, closed sessions.
    rows = []
    for d in range(1, 4):
        day = (now - timedelta(days=d)).replace(hour=8, minute=0, second=0, microsecond=0)
        for _ in range(3):
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "lot_id": lot.id,
                    "vehicle_class": "car_small",
                    "plate": random_car_plate().replace("-", "").replace(".", ""),
                    "status": "closed",
                    "entry_at": day,
                    "exit_at": day + timedelta(hours=9),
                    "flags": [],
                }
            )
    async with sessionmaker() as db:
        await db.execute(insert(ParkingSession), rows)
        await db.commit()
    r = await client.get(f"/v1/places/{lot.code}/forecast", params={"vehicle_class": "car_small"})
    body = r.json()  # a "no history" answer is never cached: this one is computed afresh
    assert body["available"] is True and body["history_days"] >= 2
    assert [p["minutes_ahead"] for p in body["points"]] == [15, 30, 45, 60]
    for p in body["points"]:
        assert 0 <= p["free_low"] <= p["free"] <= p["free_high"] <= 5
    assert (await client.get("/v1/places/NOPE/forecast", params={"vehicle_class": "car_small"})).status_code == 404
