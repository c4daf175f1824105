"""Shared helpers for the pricing tests (imported by module name; pytest puts this folder on sys.path)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from parking.pricing import TariffBook, load_tariff_book

ROOT = Path(__file__).resolve().parents[2]
TARIFFS_DIR = ROOT / "config" / "tariffs"
VAT_PATH = ROOT / "config" / "vat.toml"
ICT = timezone(timedelta(hours=7), "ICT")  # Hanoi local time, UTC+7 (no DST)

HANOI = "hanoi-44-2017"
EXAMPLE = "example-declared-operator"


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """A Hanoi local instant."""
    return datetime(y, mo, d, h, mi, s, tzinfo=ICT)


def shipped_book() -> TariffBook:
    return load_tariff_book(TARIFFS_DIR, vat_path=VAT_PATH)


VAT_TOML = """
[[rate]]
from = 2000-01-01
until = 2026-12-31
rate_bp = 800
source = "test: 8 %"

[[rate]]
from = 2027-01-01
rate_bp = 1000
source = "test: 10 %"
"""

BASE_TARIFF = """
id = "t"
version = 1
name = "test tariff"
valid_from = 2020-01-01
timezone = "Asia/Ho_Chi_Minh"
prices_include_vat = true

[source]
kind = "declared"
declared_by = "Test operator"

[bands]
day = { from = "06:00", to = "18:00" }
night = { from = "18:00", to = "06:00" }

[zones.z]
description = "test zone"
"""

METERED_RULE = """
[[rules]]
id = "cars"
kind = "metered"
zones = ["z"]
vehicle_classes = ["car_small"]
source = "test"
unit_minutes = 60
rounding = "up"
steps = [
  { from_unit = 1, to_unit = 2, price_vnd = 10000 },
  { from_unit = 3, price_vnd = 20000 },
]
"""


def write_book(tmp_path: Path, *tariffs: str, vat: str = VAT_TOML) -> Path:
    """Write tariff files into tmp_path/tariffs and a VAT file next to it; return the tariffs dir."""
    tdir = tmp_path / "tariffs"
    tdir.mkdir(exist_ok=True)
    for i, text in enumerate(tariffs):
        (tdir / f"t{i}.toml").write_text(text, encoding="utf-8")
    (tmp_path / "vat.toml").write_text(vat, encoding="utf-8")
    return tdir


def book_from(tmp_path: Path, *tariffs: str, vat: str = VAT_TOML) -> TariffBook:
    tdir = write_book(tmp_path, *tariffs, vat=vat)
    return load_tariff_book(tdir, vat_path=tmp_path / "vat.toml")
