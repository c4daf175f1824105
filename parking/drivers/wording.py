"""What a driver reads: Vietnamese (first) and English names of vehicle classes and of the pricing engine's fee
lines. Pure: no I/O. The pricing engine's trace stays the truth; this only names its lines for people."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

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


def _vnd(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " đ"


def stay_length_vi(minutes: int) -> str:
    h, m = divmod(max(minutes, 0), 60)
    d, h = divmod(h, 24)
    return " ".join([*([f"{d} ngày"] if d else []), *([f"{h} giờ"] if h else []), f"{m} phút"])


def exit_lines(entry_local: str | None, stay_minutes: int | None, fee_lines: list[dict[str, Any]]) -> list[str]:
    """What the exit kiosk shows under the fee: entry time, stay length, and the breakdown (at most 3 lines)."""
    out = []
    if entry_local and stay_minutes is not None:
        out.append(f"Vào lúc {entry_local} · gửi {stay_length_vi(stay_minutes)}")
    shown = [x for x in fee_lines if int(x.get("amount_vnd", 0)) != 0] or fee_lines
    for line in shown[:3]:
        d = describe_line(line)
        qty = f"{d['quantity']} {d['unit_vi']} × {_vnd(d['unit_price_vnd'])}"
        out.append(f"{d['name_vi']}: {qty} = {_vnd(d['amount_vnd'])}")
    return out


def lot_full_lines(vehicle_class: str, capacity: int, nearby: list[dict[str, Any]]) -> list[str]:
    """The lot-full screen: the class named in Vietnamese (English line after), and lots near with spaces."""
    lines = [
        f"Hết chỗ cho {vehicle_class_vi(vehicle_class).lower()} ({capacity}/{capacity})",
        f"No space left for {vehicle_class_en(vehicle_class).lower()}",
    ]
    if nearby:
        lines.append("Gần đây còn chỗ / Spaces nearby:")
        lines += [f"{n['name']} · {n['distance_m']} m · còn {n['free']} chỗ" for n in nearby]
    else:
        lines.append("Mời thử bãi khác / Please try another lot")
    return lines


def local_text(at: datetime | None) -> str | None:
    """Local (Hanoi) time as Vietnamese receipts and screens print it: dd/mm/yyyy HH:MM."""
    return at.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M") if at else None
