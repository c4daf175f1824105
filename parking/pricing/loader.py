"""Load and validate tariff files (TOML, one file per tariff version) into compiled tariffs.

Validation is hand-written rather than a pydantic schema because most checks are across fields
(gaps and overlaps between steps, bands, rules and versions) and every message must name the file,
the rule and the problem in an operator's words; the files are small and loaded once.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from parking.pricing.errors import TariffFileError
from parking.pricing.model import (
    CERTAINTIES,
    PASS_BANDS,
    US_PER_DAY,
    US_PER_MINUTE,
    VEHICLE_CLASSES,
    LegalSource,
    PassPrice,
    Rule,
    Step,
    TariffVersion,
    TurnPrice,
)
from parking.pricing.vat import VatTable, load_vat_table

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

_TOP_KEYS = {
    "id",
    "version",
    "name",
    "valid_from",
    "valid_until",
    "timezone",
    "prices_include_vat",
    "notes",
    "source",
    "bands",
    "zones",
    "rules",
}
_SOURCE_KEYS = {
    "kind",
    "reference",
    "article",
    "issued_by",
    "issued_on",
    "declared_by",
    "declared_to",
    "declared_on",
    "url",
    "note",
    "certainty",
}
_COMMON_RULE_KEYS = {
    "id",
    "kind",
    "zones",
    "vehicle_classes",
    "certainty",
    "source",
    "note",
    "grace_minutes",
    "passes",
}
_TURN_KEYS = {"day_vnd", "night_vnd", "day_and_night_vnd", "night_turns", "day_and_night_turns"}
_METERED_KEYS = {"unit_minutes", "rounding", "steps", "daily_cap_vnd", "minimum_vnd"}


class _Ctx:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, problem: str) -> TariffFileError:
        return TariffFileError(self.path, problem)


def _no_unknown_keys(ctx: _Ctx, table: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise ctx.fail(f"{where}: unknown key(s) {extra}; allowed: {sorted(allowed)}")


def _str(ctx: _Ctx, table: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = table.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise ctx.fail(f"{where}: '{key}' is missing or empty")
    return value.strip()


def _vnd(ctx: _Ctx, table: dict[str, Any], key: str, where: str, *, required: bool = True) -> int | None:
    value = table.get(key)
    if value is None:
        if required:
            raise ctx.fail(f"{where}: '{key}' is missing")
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ctx.fail(f"{where}: '{key}' must be a whole number of VND, got {value!r}")
    if value < 0:
        raise ctx.fail(f"{where}: '{key}' is negative ({value}); prices must be >= 0")
    return value


def _pos_int(ctx: _Ctx, table: dict[str, Any], key: str, where: str, *, default: int | None = None) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ctx.fail(f"{where}: '{key}' must be a whole number >= 1, got {value!r}")
    return value


def _clock_us(ctx: _Ctx, value: Any, where: str) -> int:
    if not isinstance(value, str) or not (m := _TIME_RE.match(value)):
        raise ctx.fail(f'{where}: expected a local time like "06:00", got {value!r}')
    return (int(m.group(1)) * 60 + int(m.group(2))) * US_PER_MINUTE


def _fmt_clock(us: int) -> str:
    minutes = us // US_PER_MINUTE
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_source(ctx: _Ctx, raw: Any) -> LegalSource:
    if not isinstance(raw, dict):
        raise ctx.fail(
            "missing [source] table: every tariff must cite its legal source "
            '(a decision number and article, or kind = "declared" with declared_by)'
        )
    _no_unknown_keys(ctx, raw, _SOURCE_KEYS, "[source]")
    kind = raw.get("kind")
    url = str(raw.get("url", ""))
    if kind == "decision":
        reference = _str(ctx, raw, "reference", "[source]")
        article = _str(ctx, raw, "article", "[source]")
        return LegalSource("decision", f"{reference}, {article}", url)
    if kind == "declared":
        declared_by = _str(ctx, raw, "declared_by", "[source]")
        text = f"declared by operator: {declared_by}"
        declared_on = raw.get("declared_on")
        if declared_on is not None:
            if not isinstance(declared_on, date):
                raise ctx.fail("[source]: 'declared_on' must be a date like 2025-01-01")
            text += f", price declaration of {declared_on.isoformat()}"
        if raw.get("declared_to"):
            text += f" to {raw['declared_to']}"
        return LegalSource("declared", text, url)
    raise ctx.fail(f'[source]: \'kind\' must be "decision" or "declared", got {kind!r}')


def _parse_bands(ctx: _Ctx, raw: Any) -> tuple[int, int]:
    if not isinstance(raw, dict):
        raise ctx.fail("[bands]: per-turn rules need [bands] with day = { from, to } and night = { from, to }")
    _no_unknown_keys(ctx, raw, {"day", "night"}, "[bands]")
    parsed: dict[str, tuple[int, int]] = {}
    for name in ("day", "night"):
        band = raw.get(name)
        if not isinstance(band, dict):
            raise ctx.fail(f'[bands]: \'{name}\' is missing; write {name} = {{ from = "HH:MM", to = "HH:MM" }}')
        _no_unknown_keys(ctx, band, {"from", "to"}, f"[bands].{name}")
        parsed[name] = (
            _clock_us(ctx, band.get("from"), f"[bands].{name}.from"),
            _clock_us(ctx, band.get("to"), f"[bands].{name}.to"),
        )
    (day_from, day_to), (night_from, night_to) = parsed["day"], parsed["night"]
    if day_from >= day_to:
        raise ctx.fail("[bands]: the day band must start before it ends on the same day")
    # Night is the complement of day: its ends must meet the day's ends exactly.
    for night_edge, day_edge, label in ((night_from, day_to, "evening"), (night_to, day_from, "morning")):
        if night_edge == day_edge:
            continue
        if label == "evening":
            gap_or_overlap = "gap between bands" if night_from > day_to else "bands overlap"
            lo, hi = sorted((day_to, night_from))
        else:
            gap_or_overlap = "gap between bands" if night_to < day_from else "bands overlap"
            lo, hi = sorted((night_to, day_from))
        raise ctx.fail(
            f"[bands]: {gap_or_overlap} ({label}): {_fmt_clock(lo)}–{_fmt_clock(hi)}; "
            "night must start when day ends and end when day starts"
        )
    return day_from, day_to


def _parse_steps(ctx: _Ctx, raw: Any, where: str) -> tuple[Step, ...]:
    if not isinstance(raw, list) or not raw:
        raise ctx.fail(f"{where}: 'steps' must list at least one {{ from_unit, to_unit, price_vnd }}")
    steps: list[Step] = []
    for i, item in enumerate(raw, start=1):
        w = f"{where} step {i}"
        if not isinstance(item, dict):
            raise ctx.fail(f"{w}: expected {{ from_unit = …, to_unit = …, price_vnd = … }}")
        _no_unknown_keys(ctx, item, {"from_unit", "to_unit", "price_vnd"}, w)
        first = _pos_int(ctx, item, "from_unit", w)
        last = item.get("to_unit")
        if last is not None:
            last = _pos_int(ctx, item, "to_unit", w)
            if last < first:
                raise ctx.fail(f"{w}: to_unit {last} is before from_unit {first}")
        price = _vnd(ctx, item, "price_vnd", w)
        assert price is not None
        steps.append(Step(first, last, price))
    if steps[0].first_unit != 1:
        raise ctx.fail(f"{where}: gap in steps: the first step must start at unit 1, not {steps[0].first_unit}")
    for prev, cur in itertools.pairwise(steps):
        if prev.last_unit is None:
            raise ctx.fail(f"{where}: steps overlap: a step without to_unit must be the last one")
        if cur.first_unit <= prev.last_unit:
            raise ctx.fail(f"{where}: steps overlap: units {cur.first_unit}–{prev.last_unit} are priced twice")
        if cur.first_unit > prev.last_unit + 1:
            raise ctx.fail(f"{where}: gap in steps: units {prev.last_unit + 1}–{cur.first_unit - 1} have no price")
    if steps[-1].last_unit is not None:
        raise ctx.fail(
            f"{where}: the last step must have no to_unit, so that every stay has a price "
            f"(units after {steps[-1].last_unit} have none)"
        )
    return tuple(steps)


def units_for(duration_us: int, unit_us: int, rounding: str) -> int:
    """How many billing units a duration makes under the rule's rounding of a partial unit."""
    if rounding == "up":
        return -(-duration_us // unit_us)
    if rounding == "down":
        return duration_us // unit_us
    return (2 * duration_us + unit_us) // (2 * unit_us)  # half_up: half a unit or more counts


def split_units(steps: tuple[Step, ...], units: int) -> tuple[tuple[Step, int, int], ...]:
    """(step, units in that step, amount) for the first ``units`` units of a period."""
    out: list[tuple[Step, int, int]] = []
    for s in steps:
        if units < s.first_unit:
            break
        top = units if s.last_unit is None else min(units, s.last_unit)
        n = top - s.first_unit + 1
        out.append((s, n, n * s.price_vnd))
    return tuple(out)


def _unit_label(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return "hour" if hours == 1 else f"{hours} hours"
    return "minute" if minutes == 1 else f"{minutes} minutes"


def _parse_turn(ctx: _Ctx, raw: dict[str, Any], where: str, key: str, day: TurnPrice) -> TurnPrice:
    vnd_key, turns_key = f"{key}_vnd", f"{key}_turns"
    if (vnd_key in raw) == (turns_key in raw):
        raise ctx.fail(f"{where}: give exactly one of '{vnd_key}' (a price) or '{turns_key}' (N day turns)")
    if vnd_key in raw:
        price = _vnd(ctx, raw, vnd_key, where)
        assert price is not None
        return TurnPrice(1, price)
    return TurnPrice(_pos_int(ctx, raw, turns_key, where), day.unit_price_vnd)


def _parse_rule(ctx: _Ctx, raw: Any, index: int, zones: dict[str, str], has_bands: bool) -> Rule:
    where = f"rule #{index}"
    if not isinstance(raw, dict):
        raise ctx.fail(f"{where}: expected a [[rules]] table")
    rule_id = _str(ctx, raw, "id", where)
    where = f"rule '{rule_id}'"
    kind = raw.get("kind")
    if kind == "per_turn":
        _no_unknown_keys(ctx, raw, _COMMON_RULE_KEYS | _TURN_KEYS, where)
    elif kind == "metered":
        _no_unknown_keys(ctx, raw, _COMMON_RULE_KEYS | _METERED_KEYS, where)
    else:
        raise ctx.fail(f'{where}: \'kind\' must be "per_turn" or "metered", got {kind!r}')

    rule_zones = raw.get("zones")
    if not isinstance(rule_zones, list) or not rule_zones or not all(isinstance(z, str) for z in rule_zones):
        raise ctx.fail(f"{where}: 'zones' must list at least one zone")
    for z in rule_zones:
        if z not in zones:
            raise ctx.fail(f"{where}: unknown zone '{z}'; declare it under [zones.{z}] (known: {sorted(zones)})")
    classes = raw.get("vehicle_classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise ctx.fail(f"{where}: 'vehicle_classes' must list at least one of {list(VEHICLE_CLASSES)}")
    for c in classes:
        if c not in VEHICLE_CLASSES:
            raise ctx.fail(f"{where}: unknown vehicle class '{c}'; known: {list(VEHICLE_CLASSES)}")

    certainty = raw.get("certainty", "confirmed")
    if certainty not in CERTAINTIES:
        raise ctx.fail(f"{where}: 'certainty' must be one of {list(CERTAINTIES)}, got {certainty!r}")
    source = _str(ctx, raw, "source", where)  # "missing source" names the rule
    note = _str(ctx, raw, "note", where, required=False)
    if certainty != "confirmed" and not note:
        raise ctx.fail(f"{where}: certainty is '{certainty}', so a 'note' must say what is not confirmed")
    grace_minutes = raw.get("grace_minutes", 0)
    if not isinstance(grace_minutes, int) or isinstance(grace_minutes, bool) or grace_minutes < 0:
        raise ctx.fail(f"{where}: 'grace_minutes' must be a whole number >= 0, got {grace_minutes!r}")

    passes: list[PassPrice] = []
    raw_passes = raw.get("passes", [])
    if not isinstance(raw_passes, list):
        raise ctx.fail(f"{where}: 'passes' must be a list of [[rules.passes]] tables")
    for j, p in enumerate(raw_passes, start=1):
        pw = f"{where} pass #{j}"
        if not isinstance(p, dict):
            raise ctx.fail(f"{pw}: expected a table")
        _no_unknown_keys(ctx, p, {"name", "band", "price_vnd"}, pw)
        band = p.get("band")
        if band not in PASS_BANDS:
            raise ctx.fail(f"{pw}: 'band' must be one of {list(PASS_BANDS)}, got {band!r}")
        price = _vnd(ctx, p, "price_vnd", pw)
        assert price is not None
        passes.append(PassPrice(_str(ctx, p, "name", pw), band, price))

    common: dict[str, Any] = {
        "id": rule_id,
        "zones": tuple(rule_zones),
        "vehicle_classes": tuple(classes),
        "certainty": certainty,
        "source": source,
        "note": note,
        "grace_us": grace_minutes * US_PER_MINUTE,
        "passes": tuple(passes),
    }
    if kind == "per_turn":
        if not has_bands:
            raise ctx.fail(f"{where}: per-turn rules need a [bands] table (day and night hours)")
        day_price = _vnd(ctx, raw, "day_vnd", where)
        assert day_price is not None
        day = TurnPrice(1, day_price)
        night = _parse_turn(ctx, raw, where, "night", day)
        both = _parse_turn(ctx, raw, where, "day_and_night", day)
        if both.amount_vnd < max(day.amount_vnd, night.amount_vnd):
            raise ctx.fail(
                f"{where}: the day-and-night price ({both.amount_vnd}) is below the day or night "
                "price, so a longer stay would cost less"
            )
        return Rule(kind="per_turn", day=day, night=night, day_and_night=both, **common)

    unit_minutes = _pos_int(ctx, raw, "unit_minutes", where)
    if unit_minutes > 24 * 60:
        raise ctx.fail(f"{where}: 'unit_minutes' must be at most 1440 (24 h), got {unit_minutes}")
    rounding = raw.get("rounding", "up")
    if rounding not in ("up", "down", "half_up"):
        raise ctx.fail(f'{where}: \'rounding\' must be "up", "down" or "half_up", got {rounding!r}')
    steps = _parse_steps(ctx, raw.get("steps"), where)
    cap = _vnd(ctx, raw, "daily_cap_vnd", where, required=False)
    minimum = _vnd(ctx, raw, "minimum_vnd", where, required=False) or 0
    if cap is not None and minimum > cap:
        raise ctx.fail(f"{where}: minimum_vnd ({minimum}) is above daily_cap_vnd ({cap})")
    unit_us = unit_minutes * US_PER_MINUTE
    full_split = split_units(steps, units_for(US_PER_DAY, unit_us, rounding))
    return Rule(
        kind="metered",
        unit_minutes=unit_minutes,
        unit_us=unit_us,
        unit_label=_unit_label(unit_minutes),
        rounding=rounding,
        steps=steps,
        daily_cap_vnd=cap,
        minimum_vnd=minimum,
        full_day_split=full_split,
        full_day_raw_vnd=sum(a for _, _, a in full_split),
        **common,
    )


def parse_tariff(data: dict[str, Any], path: Path) -> TariffVersion:
    """Validate one parsed tariff file and compile it. Raises TariffFileError naming the problem."""
    ctx = _Ctx(path)
    _no_unknown_keys(ctx, data, _TOP_KEYS, "top level")
    tariff_id = _str(ctx, data, "id", "top level")
    if not _ID_RE.match(tariff_id):
        raise ctx.fail(f"'id' must be lower-case letters, digits and dashes, got {tariff_id!r}")
    version = _pos_int(ctx, data, "version", "top level")
    name = _str(ctx, data, "name", "top level")
    valid_from = data.get("valid_from")
    if not isinstance(valid_from, date):
        raise ctx.fail("'valid_from' must be a date like 2018-01-01 (the first day the prices apply)")
    valid_until = data.get("valid_until")
    if valid_until is not None:
        if not isinstance(valid_until, date):
            raise ctx.fail("'valid_until' must be a date like 2026-12-31 (the last day the prices apply)")
        if valid_until < valid_from:
            raise ctx.fail(f"'valid_until' {valid_until} is before 'valid_from' {valid_from}")
    timezone = data.get("timezone", "Asia/Ho_Chi_Minh")
    try:
        tz = ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        raise ctx.fail(f"unknown timezone {timezone!r}") from None
    include_vat = data.get("prices_include_vat")
    if not isinstance(include_vat, bool):
        raise ctx.fail("'prices_include_vat' must be true or false (are the listed prices VAT-inclusive?)")
    source = _parse_source(ctx, data.get("source"))

    raw_zones = data.get("zones")
    if not isinstance(raw_zones, dict) or not raw_zones:
        raise ctx.fail("declare at least one zone, e.g. [zones.urban] with a description")
    zones: dict[str, str] = {}
    for zone, body in raw_zones.items():
        if not isinstance(body, dict):
            raise ctx.fail(f"[zones.{zone}]: expected a table with a description")
        _no_unknown_keys(ctx, body, {"description"}, f"[zones.{zone}]")
        zones[zone] = _str(ctx, body, "description", f"[zones.{zone}]")

    has_bands = "bands" in data
    day_start, day_end = _parse_bands(ctx, data["bands"]) if has_bands else (0, 0)

    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ctx.fail("no [[rules]]: a tariff needs at least one rule")
    rules = tuple(_parse_rule(ctx, r, i, zones, has_bands) for i, r in enumerate(raw_rules, start=1))
    rule_for: dict[tuple[str, str], Rule] = {}
    seen_ids: set[str] = set()
    for rule in rules:
        if rule.id in seen_ids:
            raise ctx.fail(f"two rules have the id '{rule.id}'")
        seen_ids.add(rule.id)
        for z in rule.zones:
            for c in rule.vehicle_classes:
                other = rule_for.get((z, c))
                if other is not None:
                    raise ctx.fail(f"rules overlap: '{other.id}' and '{rule.id}' both price {c} in zone {z}")
                rule_for[(z, c)] = rule
    for z in zones:
        if not any(key[0] == z for key in rule_for):
            raise ctx.fail(f"zone '{z}' has no rule")
    return TariffVersion(
        id=tariff_id,
        version=version,
        name=name,
        path=str(path),
        valid_from=valid_from,
        valid_until=valid_until,
        timezone=str(timezone),
        tz=tz,
        prices_include_vat=include_vat,
        source=source,
        day_start_us=day_start,
        day_end_us=day_end,
        day_hours=f"{_fmt_clock(day_start)}–{_fmt_clock(day_end)}",
        night_hours=f"{_fmt_clock(day_end)}–{_fmt_clock(day_start)}",
        zones=zones,
        rules=rules,
        rule_for=rule_for,
    )


def load_tariff_file(path: Path) -> TariffVersion:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise TariffFileError(path, f"not valid TOML: {exc}") from None
    return parse_tariff(data, path)


@dataclass
class TariffBook:
    """All tariff versions, grouped by tariff id and sorted by start date, plus the VAT table."""

    versions: dict[str, tuple[TariffVersion, ...]]
    vat: VatTable

    def tariffs(self) -> list[tuple[str, int]]:
        """(tariff id, version) of every loaded version, sorted."""
        return [(tid, v.version) for tid in sorted(self.versions) for v in self.versions[tid]]

    def describe(self) -> list[dict[str, object]]:
        """JSON-ready description of every version: validity, source, zones and their vehicle classes."""
        return [v.describe() for tid in sorted(self.versions) for v in self.versions[tid]]

    def version_in_force(self, tariff_id: str, day: date) -> TariffVersion | None:
        for v in self.versions.get(tariff_id, ()):
            if v.in_force_on(day):
                return v
        return None


def build_book(versions: list[TariffVersion], vat: VatTable) -> TariffBook:
    grouped: dict[str, list[TariffVersion]] = {}
    for v in versions:
        grouped.setdefault(v.id, []).append(v)
    out: dict[str, tuple[TariffVersion, ...]] = {}
    for tid, vs in grouped.items():
        vs.sort(key=lambda v: v.valid_from)
        numbers: dict[int, TariffVersion] = {}
        for v in vs:
            if v.version in numbers:
                raise TariffFileError(
                    v.path, f"tariff '{tid}' version {v.version} is also defined in {numbers[v.version].path}"
                )
            numbers[v.version] = v
            if v.timezone != vs[0].timezone:
                raise TariffFileError(
                    v.path,
                    f"all versions of '{tid}' must use one timezone ({vs[0].timezone} in {vs[0].path})",
                )
        for prev, cur in itertools.pairwise(vs):
            if prev.valid_until is None or prev.valid_until >= cur.valid_from:
                raise TariffFileError(
                    cur.path,
                    f"versions overlap: '{tid}' v{prev.version} ({prev.path}) "
                    f"is still in force on {cur.valid_from}, when v{cur.version} "
                    "starts",
                )
        out[tid] = tuple(vs)
    return TariffBook(out, vat)


def load_tariff_book(tariffs_dir: Path, vat_path: Path | None = None) -> TariffBook:
    """Load every ``*.toml`` under ``tariffs_dir`` and the VAT table (default: ``<dir>/../vat.toml``)."""
    if not tariffs_dir.is_dir():
        raise TariffFileError(tariffs_dir, "tariff directory not found")
    files = sorted(tariffs_dir.rglob("*.toml"))
    if not files:
        raise TariffFileError(tariffs_dir, "no tariff files (*.toml) found")
    vat = load_vat_table(vat_path if vat_path is not None else tariffs_dir.parent / "vat.toml")
    return build_book([load_tariff_file(f) for f in files], vat)
