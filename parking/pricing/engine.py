"""The fee of one stay: pure, deterministic, no clock, no I/O.

Instants are handled as integer microseconds since the Unix epoch (UTC), so durations and band
edges are exact. Bands are evaluated on the tariff's local clock (Asia/Ho_Chi_Minh has no daylight
saving time, so local time is UTC+7 all year).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from parking.kit.money import group_thousands
from parking.pricing.errors import (
    ExitBeforeEntry,
    InvalidDatetime,
    NaiveDatetime,
    NoTariffInForce,
    PassNotApplicable,
    UnknownTariff,
    UnknownVehicleClass,
    UnknownZone,
)
from parking.pricing.loader import TariffBook, split_units, units_for
from parking.pricing.model import (
    PASS_BANDS,
    US_PER_DAY,
    VEHICLE_CLASSES,
    Exemption,
    Pass,
    Quote,
    QuoteLine,
    Rule,
    TariffVersion,
    TurnPrice,
)
from parking.pricing.vat import split_inclusive, vat_on_net

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)

Interval = tuple[int, int]


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetime(
            f"{name} {value.isoformat()} has no UTC offset; give e.g. {value.isoformat()}+07:00",
            details={"field": name},
        )


def _us(value: datetime) -> int:
    return (value - _EPOCH) // _ONE_US


def _at(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _local_sod(us: int, tz: tzinfo) -> int:
    """Microseconds since local midnight at the instant ``us``."""
    t = _at(us).astimezone(tz)
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _touches(sod: int, length: int, ds: int, de: int) -> tuple[bool, bool]:
    """(touches day, touches night) for the stay [start, start + length) with start at local ``sod``.

    Day is [ds, de) and night the rest, both half-open, so a stay ending at 18:00:00 is a day stay and
    one starting at 18:00:00 is a night stay. ``length`` < 24 h; a zero-length stay takes the band of
    its instant.
    """
    if length == 0:
        day = ds <= sod < de
        return day, not day
    end = sod + length  # < sod + 24 h, so only today's and tomorrow's day bands can meet it
    day = (sod < de and end > ds) or (sod < de + US_PER_DAY and end > ds + US_PER_DAY)
    inside_one_day = (ds <= sod and end <= de) or (ds + US_PER_DAY <= sod and end <= de + US_PER_DAY)
    return day, not inside_one_day


def _fmt_vnd(amount: int) -> str:
    return group_thousands(amount, ",")  # English explanations: 1,000


class _Lines:
    __slots__ = ("instants", "items", "rule_id")

    def __init__(self, rule_id: str, instants: dict[int, datetime]) -> None:
        self.rule_id = rule_id
        self.items: list[QuoteLine] = []
        self.instants = instants  # entry and exit, already converted: most lines start or end there

    def at(self, us: int) -> datetime:
        known = self.instants.get(us)
        return known if known is not None else _at(us)

    def add(
        self,
        construct: str,
        description: str,
        start: int,
        end: int,
        units: int,
        unit: str,
        unit_price: int,
        amount: int,
    ) -> None:
        self.items.append(
            QuoteLine(
                f"{self.rule_id}/{construct}",
                description,
                self.at(start),
                self.at(end),
                units,
                unit,
                unit_price,
                amount,
            )
        )


def _turn_line(
    lines: _Lines,
    version: TariffVersion,
    rule: Rule,
    day: bool,
    night: bool,
    start: int,
    end: int,
    periods: int = 1,
) -> None:
    tp: TurnPrice | None
    if day and night:
        construct, tp = "day_and_night_turn", rule.day_and_night
        text = "day-and-night turn (the stay spans day and night)"
        if periods > 1 or end - start == US_PER_DAY * periods:
            text = "day-and-night turn, one per full 24 h from entry"
    elif day:
        construct, tp, text = "day_turn", rule.day, f"day turn ({version.day_hours})"
    else:
        construct, tp, text = "night_turn", rule.night, f"night turn ({version.night_hours})"
    assert tp is not None
    if tp.units > 1:
        text += f", priced as {tp.units} turns of {_fmt_vnd(tp.unit_price_vnd)}"
    units = tp.units * periods
    lines.add(construct, text, start, end, units, "turn", tp.unit_price_vnd, units * tp.unit_price_vnd)


def _price_turns(
    lines: _Lines,
    version: TariffVersion,
    rule: Rule,
    tz: tzinfo,
    e: int,
    x: int,
    uncovered: list[Interval] | None,
) -> None:
    ds, de = version.day_start_us, version.day_end_us
    length = x - e
    if uncovered is None:
        full, rest = divmod(length, US_PER_DAY)
        if full:
            _turn_line(lines, version, rule, True, True, e, e + full * US_PER_DAY, full)
        if rest or length == 0:
            start = e + full * US_PER_DAY
            day, night = _touches(_local_sod(start, tz), rest, ds, de)
            _turn_line(lines, version, rule, day, night, start, x)
        return
    # With a pass: each 24 h period from entry is one turn, priced by the bands of its uncovered time.
    periods = max(1, -(-length // US_PER_DAY))
    for k in range(periods):
        ps, pe = e + k * US_PER_DAY, min(e + (k + 1) * US_PER_DAY, x)
        day = night = False
        for a, b in uncovered:
            lo, hi = max(a, ps), min(b, pe)
            if lo < hi or (lo == hi == a == b and ps <= a <= pe):
                d, n = _touches(_local_sod(lo, tz), hi - lo, ds, de)
                day, night = day or d, night or n
        if day or night:
            _turn_line(lines, version, rule, day, night, ps, pe)


def _price_metered(lines: _Lines, rule: Rule, e: int, x: int, billable: int, with_pass: bool) -> None:
    unit = rule.unit_label
    cap = rule.daily_cap_vnd
    full, rest = divmod(billable, US_PER_DAY)
    # Without a pass, periods are wall-clock 24 h from entry; with one, they count billable time only.
    full_end = x if with_pass else e + full * US_PER_DAY
    if full:
        for step, n, amount in rule.full_day_split:
            lines.add(
                "step",
                _step_text(step.first_unit, step.first_unit + n - 1, unit, full),
                e,
                full_end,
                n * full,
                unit,
                step.price_vnd,
                amount * full,
            )
        if cap is not None and rule.full_day_raw_vnd > cap:
            excess = rule.full_day_raw_vnd - cap
            lines.add(
                "daily_cap",
                f"daily cap {_fmt_vnd(cap)} per 24 h",
                e,
                full_end,
                full,
                "24 h",
                -excess,
                -excess * full,
            )
    if rest:
        rest_start = e if with_pass else full_end
        units = units_for(rest, rule.unit_us, rule.rounding)
        raw = 0
        for step, n, amount in split_units(rule.steps, units):
            last = step.first_unit + n - 1
            if with_pass:  # billable time is not one wall-clock span: show the whole stay
                s_start, s_end = e, x
            else:
                s_start = min(rest_start + (step.first_unit - 1) * rule.unit_us, x)
                s_end = min(rest_start + last * rule.unit_us, x)
            lines.add(
                "step",
                _step_text(step.first_unit, last, unit, 0),
                s_start,
                s_end,
                n,
                unit,
                step.price_vnd,
                amount,
            )
            raw += amount
        if cap is not None and raw > cap:
            lines.add(
                "daily_cap",
                f"daily cap {_fmt_vnd(cap)} per 24 h",
                rest_start,
                x,
                1,
                "24 h",
                cap - raw,
                cap - raw,
            )


def _step_text(first: int, last: int, unit: str, full_periods: int) -> str:
    if unit in ("hour", "minute"):
        label = f"{unit}s {first}–{last}" if last > first else f"{unit} {first}"
    else:  # a block of several hours or minutes
        label = f"blocks {first}–{last} of {unit}" if last > first else f"block {first} of {unit}"
    if full_periods == 1:
        label += ", full 24 h period"
    elif full_periods > 1:
        label += f", in each of {full_periods} full 24 h periods"
    return label


def _pass_cover(p: Pass, version: TariffVersion, e: int, x: int) -> list[Interval]:
    """The parts of [e, x) the pass covers: its validity intersected with its band, sorted."""
    a, b = max(e, _us(p.valid_from)), min(x, _us(p.valid_until))
    if e == x:  # zero-length stay: covered iff its instant is
        if not (_us(p.valid_from) <= e < _us(p.valid_until)):
            return []
        day, _ = _touches(_local_sod(e, version.tz), 0, version.day_start_us, version.day_end_us)
        return [(e, e)] if p.band == "all" or (p.band == "day") == day else []
    if a >= b:
        return []
    if p.band == "all":
        return [(a, b)]
    ds, de = version.day_start_us, version.day_end_us
    midnight = a - _local_sod(a, version.tz) - US_PER_DAY  # the local midnight before a, minus one day
    out: list[Interval] = []
    while midnight < b:
        bands = [(midnight + ds, midnight + de)] if p.band == "day" else [(midnight + de, midnight + US_PER_DAY + ds)]
        for lo, hi in bands:
            lo, hi = max(lo, a), min(hi, b)
            if lo < hi:
                out.append((lo, hi))
        midnight += US_PER_DAY
    return out


def _subtract(e: int, x: int, cover: list[Interval]) -> list[Interval]:
    if e == x:
        return [] if cover else [(e, e)]
    out: list[Interval] = []
    cursor = e
    for lo, hi in cover:
        if lo > cursor:
            out.append((cursor, lo))
        cursor = max(cursor, hi)
    if cursor < x:
        out.append((cursor, x))
    return out


def _check_pass(p: Pass, tariff_id: str, zone: str, vehicle_class: str) -> None:
    _require_aware(p.valid_from, "pass valid_from")
    _require_aware(p.valid_until, "pass valid_until")
    if p.band not in PASS_BANDS:
        raise PassNotApplicable(f"pass band must be one of {list(PASS_BANDS)}, got {p.band!r}")
    for field, wanted, actual in (
        ("tariff", p.tariff_id, tariff_id),
        ("zone", p.zone, zone),
        ("vehicle class", p.vehicle_class, vehicle_class),
    ):
        if wanted is not None and wanted != actual:
            raise PassNotApplicable(
                f"the pass is for {field} {wanted!r}, the stay is {actual!r}", details={"field": field}
            )


def quote(
    book: TariffBook,
    *,
    tariff_id: str,
    zone: str,
    vehicle_class: str,
    entry: datetime,
    exit: datetime,
    pass_: Pass | Exemption | None = None,
) -> Quote:
    """Price one stay. The tariff version in force on the local date of entry prices the whole stay."""
    _require_aware(entry, "entry")
    _require_aware(exit, "exit")
    versions = book.versions.get(tariff_id)
    if versions is None:
        raise UnknownTariff(
            f"unknown tariff '{tariff_id}'; known: {sorted(book.versions)}", details={"tariff_id": tariff_id}
        )
    e, x = _us(entry), _us(exit)
    if x < e:
        raise ExitBeforeEntry(f"exit {exit.isoformat()} is before entry {entry.isoformat()}")
    tz = versions[0].tz
    entry_day = entry.astimezone(tz).date()
    version = None
    for v in versions:
        if v.in_force_on(entry_day):
            version = v
            break
    if version is None:
        spans = ", ".join(f"v{v.version} {v.valid_from}..{v.valid_until or ''}" for v in versions)
        raise NoTariffInForce(
            f"no version of tariff '{tariff_id}' is in force on {entry_day} ({spans})",
            details={"tariff_id": tariff_id, "date": entry_day.isoformat()},
        )
    if zone not in version.zones:
        raise UnknownZone(
            f"unknown zone '{zone}' in tariff '{tariff_id}' v{version.version}; known: {sorted(version.zones)}",
            details={"zone": zone},
        )
    rule = version.rule_for.get((zone, vehicle_class))
    if rule is None:
        if vehicle_class not in VEHICLE_CLASSES:
            problem = f"unknown vehicle class '{vehicle_class}'; known: {list(VEHICLE_CLASSES)}"
        else:
            problem = f"tariff '{tariff_id}' v{version.version} has no price for {vehicle_class} in zone '{zone}'"
        raise UnknownVehicleClass(problem, details={"vehicle_class": vehicle_class})

    entry_utc, exit_utc = _at(e), _at(x)
    lines = _Lines(rule.id, {e: entry_utc, x: exit_utc})
    length = x - e
    if isinstance(pass_, Exemption):
        lines.add("exemption", f"exempt: {pass_.reason}", e, x, 1, "stay", 0, 0)
    elif rule.grace_us and length <= rule.grace_us:
        grace_text = f"free: stay of at most {rule.grace_us // 60_000_000} minutes"
        lines.add("grace", grace_text, e, x, 1, "stay", 0, 0)
    else:
        uncovered: list[Interval] | None = None
        if pass_ is not None:
            _check_pass(pass_, tariff_id, zone, vehicle_class)
            cover = _pass_cover(pass_, version, e, x)
            if cover:
                uncovered = _subtract(e, x, cover)
                ref = f" {pass_.reference}" if pass_.reference else ""
                band = {"all": "day-and-night", "day": "daytime", "night": "night-time"}[pass_.band]
                lines.add("pass", f"covered by {band} pass{ref}", e, x, 1, "stay", 0, 0)
        if rule.kind == "per_turn":
            _price_turns(lines, version, rule, tz, e, x, uncovered)
        else:
            billable = length if uncovered is None else sum(b - a for a, b in uncovered)
            if billable:
                _price_metered(lines, rule, e, x, billable, uncovered is not None)
                charged = sum(line.amount_vnd for line in lines.items)
                if charged < rule.minimum_vnd:
                    top_up = rule.minimum_vnd - charged
                    lines.add(
                        "minimum_charge",
                        f"minimum charge {_fmt_vnd(rule.minimum_vnd)}",
                        e,
                        x,
                        1,
                        "stay",
                        top_up,
                        top_up,
                    )

    if not lines.items:  # e.g. a zero-length stay on a metered rule: say so rather than print nothing
        lines.add("no_charge", "nothing to pay: no billable time", e, x, 0, "stay", 0, 0)
    amount = sum(line.amount_vnd for line in lines.items)
    vat = book.vat.rate_on(exit.astimezone(tz).date())  # VAT of the day the service ends (invoice day)
    if version.prices_include_vat:
        total = amount
        net, vat_vnd = split_inclusive(total, vat.rate_bp)
    else:
        net = amount
        vat_vnd = vat_on_net(net, vat.rate_bp)
        total = net + vat_vnd
    notes = [rule.note] if rule.note else []
    return Quote(
        tariff_id=version.id,
        tariff_version=version.version,
        legal_source=version.source.text,
        rule_id=rule.id,
        rule_source=rule.source,
        certainty=rule.certainty,
        zone=zone,
        vehicle_class=vehicle_class,
        entry=entry_utc,
        exit=exit_utc,
        timezone=version.timezone,
        tz=tz,
        prices_include_vat=version.prices_include_vat,
        total_vnd=total,
        net_vnd=net,
        vat_vnd=vat_vnd,
        vat_rate_bp=vat.rate_bp,
        lines=lines.items,
        notes=notes,
    )


def parse_instant(text: str, name: str = "time") -> datetime:
    """Parse an ISO 8601 instant with a UTC offset ("Z" or "+07:00"); a bare local time is an error."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidDatetime(
            f"{name} {text!r} is not an ISO 8601 date-time such as 2026-11-22T08:30:00+07:00",
            details={"field": name},
        ) from None
    if value.tzinfo is None:
        raise NaiveDatetime(
            f"{name} {text!r} has no UTC offset; add one, e.g. {text.strip()}+07:00", details={"field": name}
        )
    return value
