"""Fee of a closing session, from the pure pricing engine, in the shape stored on the session row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from parking.lanes.auth import LaneInfo
from parking.pricing import PricingError, TariffBook, load_tariff_book, quote

log = structlog.get_logger("parking.fees")

TariffSource = TariffBook


@dataclass(frozen=True)
class Fee:
    total_vnd: int
    lines: list[dict[str, Any]]
    tariff_id: str
    tariff_version: str
    quote: dict[str, Any]


def load_book(config_dir: Path) -> TariffBook:
    return load_tariff_book(config_dir / "tariffs", vat_path=config_dir / "vat.toml")


def compute(
    book: TariffBook, lane: LaneInfo, vehicle_class: str, entry: datetime, exit: datetime, pass_: Any | None
) -> Fee | None:
    """The fee, or None when the stay cannot be priced (the session is then flagged for a person)."""
    try:
        q = quote(
            book,
            tariff_id=lane.tariff_id,
            zone=lane.tariff_zone,
            vehicle_class=vehicle_class,
            entry=entry,
            exit=max(entry, exit),
            pass_=pass_,
        )
    except PricingError as exc:
        log.warning("fee.unpriceable", lane=lane.code, error=str(exc))
        return None
    d = q.to_dict()
    lines = d.get("lines", [])
    assert isinstance(lines, list)
    return Fee(q.total_vnd, lines, q.tariff_id, str(q.tariff_version), d)
