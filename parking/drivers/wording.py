"""What a driver reads: Vietnamese (first) and English names of vehicle classes and of the pricing engine's fee
lines. Pure: no I/O. The pricing engine's trace stays the truth; this only names its lines for people."""

from __future__ import annotations

import re
from typing import Any

VEHICLE_CLASS_NAMES: dict[str, tuple[str, str]] = {
    "bicycle": ("Xe đạp", "Bicycle"),
    "motorbike": ("Xe máy", "Motorbike"),
    "car_small": ("Ô tô đến 9 chỗ", "Car up to 9 seats"),
    "car_large": ("Ô tô trên 9 chỗ", "Car over 9 seats"),
}

UNIT_NAMES: dict[str, tuple[str, str]] = {
    "turn": ("lượt", "turn"),
    "hour": ("giờ", "hour"),
    "minute": ("phút", "minute"),
    "stay": ("lần gửi", "stay"),
    "24 h": ("ngày (24 giờ)", "24 h"),
}

_CONSTRUCTS: dict[str, tuple[str, str]] = {
    "day_and_night_turn": ("Lượt cả ngày và đêm", "Day-and-night turn"),
    "day_turn": ("Lượt ban ngày", "Day turn"),
    "night_turn": ("Lượt ban đêm", "Night turn"),
    "daily_cap": ("Mức trần theo ngày", "Daily cap"),
    "minimum_charge": ("Mức thu tối thiểu", "Minimum charge"),
    "grace": ("Miễn phí (gửi ngắn)", "Free short stay"),
    "pass": ("Vé tháng", "Covered by a pass"),
    "exemption": ("Miễn thu", "Exempt"),
    "empty": ("Không thu", "No charge"),
}

_STEP = re.compile(r"^(?:(hour|minute)s? (\d+)(?:–(\d+))?|blocks? (\d+)(?:–(\d+))? of (.+?))(?:,|$)")


def vehicle_class_vi(vehicle_class: str) -> str:
    return VEHICLE_CLASS_NAMES.get(vehicle_class, (vehicle_class, vehicle_class))[0]


def vehicle_class_en(vehicle_class: str) -> str:
    return VEHICLE_CLASS_NAMES.get(vehicle_class, (vehicle_class, vehicle_class))[1]


def unit_names(unit: str) -> tuple[str, str]:
    if unit in UNIT_NAMES:
        return UNIT_NAMES[unit]
    return unit, unit


def line_names(line: dict[str, Any]) -> tuple[str, str]:
    """(Vietnamese, English) name of one fee line of the pricing engine's trace."""
    rule = str(line.get("rule", ""))
    construct = rule.rsplit("/", 1)[-1]
    english = str(line.get("description") or construct)
    if construct == "step":
        m = _STEP.match(english)
        if m and m.group(1):
            unit_vi = unit_names(m.group(1))[0]
            first, last = m.group(2), m.group(3)
            vi = f"{unit_vi.capitalize()} thứ {first}–{last}" if last else f"{unit_vi.capitalize()} thứ {first}"
        elif m:
            first, last = m.group(4), m.group(5)
            vi = f"Block thứ {first}–{last}" if last else f"Block thứ {first}"
        else:
            vi = "Theo thời gian gửi"
        if "full 24 h period" in english:
            vi += ", trọn 24 giờ"
        return vi, english
    vi = _CONSTRUCTS.get(construct, ("Khoản phí", english))[0]
    return vi, english


def describe_line(line: dict[str, Any]) -> dict[str, Any]:
    """A fee line as shown to a driver: names in both languages, quantity, unit, unit price, amount."""
    vi, en = line_names(line)
    unit_vi, unit_en = unit_names(str(line.get("unit", "")))
    return {
        "name_vi": vi,
        "name_en": en,
        "quantity": int(line.get("units", 0)),
        "unit_vi": unit_vi,
        "unit_en": unit_en,
        "unit_price_vnd": int(line.get("unit_price_vnd", 0)),
        "amount_vnd": int(line.get("amount_vnd", 0)),
        "period_start": line.get("period_start"),
        "period_end": line.get("period_end"),
        "rule": line.get("rule"),
    }
