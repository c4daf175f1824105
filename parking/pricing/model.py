"""Data of the pricing engine: compiled tariffs (built once on load) and quotes (built per stay)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Literal

from parking.vocabulary import VEHICLE_CLASSES

CERTAINTIES: tuple[str, ...] = ("confirmed", "secondary", "uncertain")
"""How sure we are that a rule matches its legal source: checked text / news only / conflicting."""

PASS_BANDS: tuple[str, ...] = ("day", "night", "all")

US_PER_MINUTE = 60_000_000
US_PER_DAY = 24 * 60 * US_PER_MINUTE

Rounding = Literal["up", "down", "half_up"]


@dataclass(frozen=True, slots=True)
class TurnPrice:
    """A per-turn price, written as ``units`` turns of ``unit_price_vnd`` ("overnight = 2 turns")."""

    units: int
    unit_price_vnd: int

    @property
    def amount_vnd(self) -> int:
        return self.units * self.unit_price_vnd


@dataclass(frozen=True, slots=True)
class Step:
    """Units ``first_unit``..``last_unit`` (1-based, inclusive; None = no end) cost ``price_vnd`` each."""

    first_unit: int
    last_unit: int | None
    price_vnd: int


@dataclass(frozen=True, slots=True)
class PassPrice:
    name: str
    band: str
    price_vnd: int


@dataclass(frozen=True, slots=True)
class Rule:
    """How one (zone, vehicle class) pair is priced in one tariff version."""

    id: str
    kind: Literal["per_turn", "metered"]
    zones: tuple[str, ...]
    vehicle_classes: tuple[str, ...]
    certainty: str
    source: str
    note: str
    grace_us: int
    passes: tuple[PassPrice, ...]
    # per_turn
    day: TurnPrice | None = None
    night: TurnPrice | None = None
    day_and_night: TurnPrice | None = None
    # metered
    unit_minutes: int = 0
    unit_us: int = 0
    unit_label: str = ""
    rounding: Rounding = "up"
    steps: tuple[Step, ...] = ()
    daily_cap_vnd: int | None = None
    minimum_vnd: int = 0
    # metered, precomputed for a full 24 h period: (step, units, amount) and the raw (uncapped) sum
    full_day_split: tuple[tuple[Step, int, int], ...] = ()
    full_day_raw_vnd: int = 0


@dataclass(frozen=True, slots=True)
class LegalSource:
    kind: Literal["decision", "declared"]
    text: str  # one line, printed on every quote
    url: str


@dataclass(frozen=True, slots=True)
class TariffVersion:
    id: str
    version: int
    name: str
    path: str
    valid_from: date
    valid_until: date | None  # inclusive; None = open-ended
    timezone: str
    tz: tzinfo
    prices_include_vat: bool
    source: LegalSource
    day_start_us: int  # day band [day_start, day_end) in µs after local midnight; night is the rest
    day_end_us: int
    day_hours: str  # "06:00–18:00", for the lines
    night_hours: str
    zones: dict[str, str]  # zone -> description
    rules: tuple[Rule, ...]
    rule_for: dict[tuple[str, str], Rule]

    def in_force_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    def describe(self) -> dict[str, object]:
        zones: dict[str, object] = {}
        for zone, description in self.zones.items():
            classes = {vc: self.rule_for[(zone, vc)] for vc in VEHICLE_CLASSES if (zone, vc) in self.rule_for}
            zones[zone] = {
                "description": description,
                "vehicle_classes": {
                    vc: {"rule": r.id, "kind": r.kind, "certainty": r.certainty} for vc, r in classes.items()
                },
            }
        return {
            "tariff_id": self.id,
            "version": self.version,
            "name": self.name,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "timezone": self.timezone,
            "prices_include_vat": self.prices_include_vat,
            "legal_source": self.source.text,
            "legal_source_kind": self.source.kind,
            "zones": zones,
        }


@dataclass(frozen=True, slots=True)
class Pass:
    """A pass held by the driver (e.g. a monthly pass). Inside its validity and band the stay is free.

    ``valid_until`` is exclusive. ``band`` is "day", "night" or "all" (day and night). When
    ``tariff_id``, ``zone`` or ``vehicle_class`` are given they must match the stay.
    """

    valid_from: datetime
    valid_until: datetime
    band: str = "all"
    tariff_id: str | None = None
    zone: str | None = None
    vehicle_class: str | None = None
    reference: str = ""


@dataclass(frozen=True, slots=True)
class Exemption:
    """A stay that the law or the operator exempts from payment (e.g. an emergency vehicle)."""

    reason: str


@dataclass(frozen=True, slots=True)
class QuoteLine:
    rule: str  # "<rule id>/<construct>", e.g. "motorbike-urban/day_and_night_turn"
    description: str
    period_start: datetime  # UTC
    period_end: datetime  # UTC
    units: int
    unit: str
    unit_price_vnd: int
    amount_vnd: int

    def to_dict(self, tz: tzinfo = UTC) -> dict[str, object]:
        return {
            "rule": self.rule,
            "description": self.description,
            "period_start": self.period_start.astimezone(tz).isoformat(),
            "period_end": self.period_end.astimezone(tz).isoformat(),
            "units": self.units,
            "unit": self.unit,
            "unit_price_vnd": self.unit_price_vnd,
            "amount_vnd": self.amount_vnd,
        }


@dataclass(frozen=True, slots=True)
class Quote:
    """The fee of one stay. ``sum(line.amount_vnd) == total_vnd`` for VAT-inclusive tariffs,
    ``== net_vnd`` for VAT-exclusive ones; always ``net_vnd + vat_vnd == total_vnd``."""

    tariff_id: str
    tariff_version: int
    legal_source: str
    rule_id: str
    rule_source: str
    certainty: str
    zone: str
    vehicle_class: str
    entry: datetime  # UTC
    exit: datetime  # UTC
    timezone: str
    tz: tzinfo
    prices_include_vat: bool
    total_vnd: int
    net_vnd: int
    vat_vnd: int
    vat_rate_bp: int
    lines: list[QuoteLine]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "tariff_id": self.tariff_id,
            "tariff_version": self.tariff_version,
            "legal_source": self.legal_source,
            "rule": self.rule_id,
            "rule_source": self.rule_source,
            "certainty": self.certainty,
            "zone": self.zone,
            "vehicle_class": self.vehicle_class,
            "entry": self.entry.astimezone(self.tz).isoformat(),
            "exit": self.exit.astimezone(self.tz).isoformat(),
            "timezone": self.timezone,
            "currency": "VND",
            "prices_include_vat": self.prices_include_vat,
            "total_vnd": self.total_vnd,
            "net_vnd": self.net_vnd,
            "vat_vnd": self.vat_vnd,
            "vat_rate_bp": self.vat_rate_bp,
            "lines": [line.to_dict(self.tz) for line in self.lines],
            "notes": list(self.notes),
        }
