"""A generated occupancy history for a lot: arrivals with daily and weekly habits, day-to-day variation,
stays of varied length, a capacity that turns cars away. Pure and seeded (numpy's Generator)."""

from __future__ import annotations

import numpy as np

from parking.forecast.model import Series


def _rate_per_min(minute: float, weekday: int) -> float:
    """Expected arrivals per minute: a morning and a lunchtime peak on weekdays, a later, flatter day on
    weekends, little at night."""
    h = minute / 60
    if weekday < 5:
        r = 0.05 + 1.6 * np.exp(-(((h - 8.0) / 1.0) ** 2)) + 0.8 * np.exp(-(((h - 12.5) / 1.2) ** 2))
        r += 0.6 * np.exp(-(((h - 18.5) / 1.5) ** 2))
    else:
        r = 0.04 + 0.9 * np.exp(-(((h - 11.0) / 2.5) ** 2)) + 0.8 * np.exp(-(((h - 19.0) / 2.0) ** 2))
    return float(r)


def generate(*, weeks: int, capacity: int = 120, step_min: int = 5, seed: int = 1, start_weekday: int = 0) -> Series:
    rng = np.random.default_rng(seed)
    minutes = weeks * 7 * 1440
    departures = np.zeros(minutes + 24 * 60 * 3, dtype=np.int64)
    occupied = 0
    samples = []
    day_factor = 1.0
    for m in range(minutes):
        day, minute = divmod(m, 1440)
        weekday = (start_weekday + day) % 7
        if minute == 0:  # weather, events, holidays: some days busier than the habit
            day_factor = float(rng.lognormal(0.0, 0.25))
        occupied -= int(departures[m])
        n = rng.poisson(_rate_per_min(minute, weekday) * day_factor)
        for _ in range(n):
            if occupied >= capacity:
                break  # turned away: the lot is full
            occupied += 1
            # Workday parkers stay long in the morning, errands are short.
            mean = 420 if (weekday < 5 and 420 <= minute <= 570) else 90
            stay = max(5, int(rng.exponential(mean)))
            departures[m + stay] += 1
        if minute % step_min == 0:
            samples.append(occupied)
    return Series(np.asarray(samples, dtype=np.float64), capacity, step_min, start_weekday, 0)


def split(s: Series, days: int) -> tuple[Series, Series]:
    """(the first ``days`` days, the rest), each with its own start weekday."""
    per_day = 1440 // s.step_min
    k = days * per_day
    head = Series(s.values[:k], s.capacity, s.step_min, s.start_weekday, s.start_minute)
    tail = Series(s.values[k:], s.capacity, s.step_min, (s.start_weekday + days) % 7, s.start_minute)
    return head, tail
