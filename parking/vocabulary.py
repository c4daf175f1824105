"""Words the whole platform shares, defined once: vehicle classes, the car grouping, the local time zone.

Pure (no I/O): the pricing engine, the models and the schemas all import from here.
"""

from __future__ import annotations

from enum import StrEnum
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
"""Tariffs, invoices, business days and reports are evaluated in Vietnam's local time (GMT+7, no DST)."""


class VehicleClass(StrEnum):
    BICYCLE = "bicycle"
    MOTORBIKE = "motorbike"
    CAR_SMALL = "car_small"  # ≤ 9 seats or < 2 t
    CAR_LARGE = "car_large"


VEHICLE_CLASSES: tuple[str, ...] = tuple(v.value for v in VehicleClass)
"""The only vehicle classes a tariff may price or a lot may count."""

CAR_CLASSES: tuple[str, ...] = (VehicleClass.CAR_SMALL.value, VehicleClass.CAR_LARGE.value)
"""A camera cannot tell a small car from a large one: an exit of either class matches a session of either."""


def same_vehicle_group(vehicle_class: str) -> tuple[str, ...]:
    """The classes an exit of ``vehicle_class`` may match at the exit (cars as one group)."""
    return CAR_CLASSES if vehicle_class in CAR_CLASSES else (vehicle_class,)
