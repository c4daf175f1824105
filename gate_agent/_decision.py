"""PURE offline decision: what the lane does on its own when the server cannot be reached.

No I/O, no clock. The rule (issue #4, point 5): entry opens; exit opens for drivers who
will be charged later (passes and linked accounts are known; others are flagged and the
server charges them when the events are replayed). An exit whose plate could not be read
with confidence cannot be charged later, so it calls the attendant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class LaneCache:
    """The server's view the lane keeps for offline use (GET /v1/gate/cache)."""

    passes: frozenset[str] = frozenset()
    linked_plates: frozenset[str] = frozenset()
    lot_full: dict[str, bool] = field(default_factory=dict)
    generated_at: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, object]) -> LaneCache:
        lot = data.get("lot") or {}
        full = lot.get("full", {}) if isinstance(lot, dict) else {}
        return cls(
            passes=frozenset(str(p) for p in data.get("passes", []) or []),  # type: ignore[attr-defined]
            linked_plates=frozenset(str(p) for p in data.get("linked_plates", []) or []),  # type: ignore[attr-defined]
            lot_full={str(k): bool(v) for k, v in (full or {}).items()},
            generated_at=str(data["generated_at"]) if data.get("generated_at") else None,
        )


@dataclass(frozen=True)
class LocalDecision:
    action: Literal["open", "attendant"]
    flags: tuple[str, ...]
    title: str
    lines: tuple[str, ...]


def decide_offline(
    *,
    kind: Literal["entry", "exit"],
    plate_norm: str | None,
    plate_display: str | None,
    confidence: float,
    min_confidence: float,
    vehicle_class: str | None,
    cache: LaneCache,
) -> LocalDecision:
    readable = plate_norm is not None and confidence >= min_confidence
    shown = plate_display or plate_norm or "?"
    if kind == "entry":
        flags = ["offline"]
        if not readable:
            flags.append("plate_unread")
        if vehicle_class and cache.lot_full.get(vehicle_class):
            # The rule says entry opens; the server sorts out the overflow on replay.
            flags.append("lot_full_at_last_sync")
        return LocalDecision("open", tuple(flags), "Mời vào / Welcome", (shown,))
    if not readable:
        return LocalDecision(
            "attendant",
            ("offline", "plate_unread"),
            "Vui lòng chờ nhân viên / Please wait for the attendant",
            (shown,),
        )
    assert plate_norm is not None
    if plate_norm in cache.passes:
        return LocalDecision("open", ("offline", "pass"), "Tạm biệt / Goodbye", (shown, "Vé tháng / Pass"))
    if plate_norm in cache.linked_plates:
        return LocalDecision(
            "open",
            ("offline", "charge_later", "linked_account"),
            "Tạm biệt / Goodbye",
            (shown, "Sẽ trừ tiền sau / Charged later"),
        )
    return LocalDecision(
        "open",
        ("offline", "charge_later", "unverified"),
        "Tạm biệt / Goodbye",
        (shown, "Sẽ thu phí sau / Charged later"),
    )
