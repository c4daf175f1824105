"""Vietnamese licence-plate grammar: normalise, parse, correct OCR confusions, check plausibility.

Pure: no I/O, no clock. Shared by the server (matching, input validation) and the gate agent
(OCR post-processing).

Civilian plates (white or yellow background) have three parts:

* a two-digit province code (11..99, a few codes unassigned);
* a series: cars carry one letter (``30A``) or a two-letter special series (``93LD``, ``80NN``);
  motorbikes carry a letter and a digit (``59-X3``), two letters for mopeds under 50 cc (``15-AA``)
  or ``MĐ`` and a digit for electric motorbikes (``29-MĐ1``);
* a number of 4 digits (older plates) or 5 digits (written ``123.45``).

Two special formats are parsed too (``Plate.category`` says which):

* red **military** plates: two letters naming the unit (``KA`` military region, ``QA`` service, ``TM``
  general department, ``BH`` arm, ``HA`` academy, ``AA`` corps, ...) and four digits: ``TM-27-01``;
* white **diplomatic / foreign** plates with the country code: province, three-digit country or
  organisation code, ``NG`` (diplomatic mission), ``QT`` (international organisation), ``NN`` (foreign
  organisation or person) or ``CV`` (mission staff), and a two- or three-digit order: ``43-346-NG-02``.
  The older ``80NG-631.34`` form parses as a civilian two-letter car series with the same category.

The normalised form (``plate_norm`` in the shared datasets) is upper-case A-Z0-9 with ``Đ`` -> ``D``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CAR_TWO_LETTER_SERIES",
    "FOREIGN_SERIES",
    "MILITARY_UNIT_LETTERS",
    "PLATE_CATEGORIES",
    "PROVINCE_CODES",
    "SERIES_LETTERS",
    "Plate",
    "PlateCategory",
    "PlateKind",
    "correct",
    "display",
    "is_plausible",
    "normalize",
    "parse",
    "plate_category",
]

PlateKind = Literal["car", "moto"]
PlateCategory = Literal["civilian", "commercial", "state", "military", "diplomatic", "international_org", "foreign_org"]

# Codes 11..99 minus those not assigned to any province (13, 42, 44-46, 87, 91, 96).
# Source: Circular 24/2023/TT-BCA annex (province code table); 80 is the central-agency code.
PROVINCE_CODES: frozenset[str] = frozenset(
    f"{n:02d}" for n in range(11, 100) if n not in {13, 42, 44, 45, 46, 87, 91, 96}
)

# Series letters exclude I, J, O, Q and W (too close to 1 and 0, or absent from the Vietnamese alphabet).
SERIES_LETTERS: frozenset[str] = frozenset("ABCDEFGHKLMNPRSTUVXYZ")

# Two-letter car series seen on civilian plates (LD joint ventures, NG/NN diplomatic and foreign
# organisations, KT economic, the rest special-purpose). A SOFT preference: other pairs exist on square
# car plates and the same pairs on two-row motorbike plates (mopeds ``15-AA``, ``29-LD``), so a pair off
# this list costs a car reading a little (``_OFF_LIST_COST``) instead of refusing it.
CAR_TWO_LETTER_SERIES: frozenset[str] = frozenset({"LD", "LA", "LB", "LC", "KT", "NG", "NN", "CV", "TD", "HC", "DA"})
# A two-letter car series not in the list above, or a motorbike series that is in it.
_OFF_LIST_COST = 0.3

# What a plate is, from its series and background colour (Circular 24/2023/TT-BCA): white civilian,
# yellow commercial (transport business), blue state agencies, red military, white with NG/NN diplomatic
# or foreign organisation.
# QT: international organisations with diplomatic status.
PLATE_CATEGORIES: tuple[str, ...] = (
    "civilian",
    "commercial",
    "state",
    "military",
    "diplomatic",
    "international_org",
    "foreign_org",
)

# First letter of a military plate's unit code (Ministry of Defence numbering): A corps, B arms and
# commands, C/D defence enterprises and agencies, H academies and schools, K military regions, N and P
# units of the general staff, Q services, T general departments, V special units. The second letter is
# any letter. Military plates never collide with civilian ones: six characters against seven or more.
MILITARY_UNIT_LETTERS: frozenset[str] = frozenset("ABCDHKNPQTV")
# Series of the foreign-plate format (province, country code, series, order) and their category.
FOREIGN_SERIES: dict[str, PlateCategory] = {
    "NG": "diplomatic",
    "CV": "diplomatic",
    "QT": "international_org",
    "NN": "foreign_org",
}
_MILITARY_RE = re.compile(r"^([A-Z])([A-Z])(\d{4})$")
_FOREIGN_RE = re.compile(r"^(\d{2})(\d{3})(NG|NN|QT|CV)(\d{2,3})$")

# Letters that an OCR engine may return for a digit, with a penalty (lower = more common confusion).
_LETTER_TO_DIGIT: dict[str, tuple[str, float]] = {
    "O": ("0", 0.5),
    "Q": ("0", 0.8),
    "D": ("0", 0.8),
    "U": ("0", 1.0),
    "C": ("0", 1.0),
    "I": ("1", 0.5),
    "L": ("1", 0.8),
    "T": ("1", 1.0),
    "J": ("1", 1.0),
    "Z": ("2", 0.6),
    "B": ("8", 0.6),
    "S": ("5", 0.6),
    "G": ("6", 0.6),
    "A": ("4", 0.8),
    "Y": ("7", 1.0),
    "E": ("8", 1.0),
}

# Digits (and letters that cannot be series letters) an OCR engine may return for a series letter.
_TO_LETTER: dict[str, tuple[str, float]] = {
    "0": ("D", 0.6),
    "O": ("D", 0.5),
    "Q": ("D", 0.8),
    "8": ("B", 0.6),
    "2": ("Z", 0.8),
    "5": ("S", 0.6),
    "6": ("G", 0.6),
    "4": ("A", 0.8),
    "1": ("T", 1.0),
    "I": ("T", 1.0),
    "7": ("T", 1.0),
    "3": ("B", 1.2),
    "W": ("V", 1.0),
}

# Prior cost of each layout, used to break ties between equally good fits (modern plates first).
_TEMPLATES: tuple[tuple[PlateKind, str, float], ...] = (
    # kind, series pattern (L letter, D digit, M the electric series "MD"), number length -> prior
    ("car", "L", 0.0),
    ("moto", "LD", 0.0),
    ("moto", "M", 0.05),
    ("moto", "LL", 0.1),
    ("car", "LL", 0.1),
)

_SEP_RE = re.compile(r"[^A-Z0-9]")


@dataclass(frozen=True, slots=True)
class Plate:
    province: str
    series: str
    number: str
    kind: PlateKind
    norm: str
    canonical: str
    # Who the plate belongs to, from its format and series (the background colour, which the gate sees
    # and the text does not, adds commercial/state: ``plate_category``). A military plate's series is its
    # unit code; a foreign plate's ``province`` is the province, ``series`` e.g. ``346NG`` (country code
    # and series), ``number`` the order.
    category: PlateCategory = "civilian"


def normalize(text: str) -> str:
    """Upper-case A-Z0-9 only; ``Đ``/``đ`` become ``D``, other diacritics are stripped."""
    text = text.replace("Đ", "D").replace("đ", "D")
    # NFKD splits accented letters into base + combining mark; the mark is then dropped with separators.
    text = unicodedata.normalize("NFKD", text).upper()
    return _SEP_RE.sub("", text)


def _format_number(number: str) -> str:
    return f"{number[:3]}.{number[3:]}" if len(number) == 5 else number


def _canonical(province: str, series: str, number: str, kind: PlateKind) -> str:
    if kind == "car":
        return f"{province}{series}-{_format_number(number)}"
    return f"{province}-{series} {_format_number(number)}"


def _series_ok(series: str, pattern: str, kind: PlateKind) -> bool:
    if pattern == "L":
        return len(series) == 1 and series in SERIES_LETTERS
    if pattern == "LD":
        return len(series) == 2 and series[0] in SERIES_LETTERS and series[1].isdigit()
    if pattern == "M":
        return len(series) == 3 and series[:2] == "MD" and series[2].isdigit()
    if pattern == "LL":
        # Any pair of series letters, for both kinds: the special list is a soft preference (_series_cost).
        return len(series) == 2 and all(c in SERIES_LETTERS for c in series)
    return False


def _series_cost(series: str, pattern: str, kind: PlateKind) -> float:
    """Soft preference: a car's two-letter series from the special list, a motorbike's from outside it."""
    if pattern != "LL":
        return 0.0
    return 0.0 if (series in CAR_TWO_LETTER_SERIES) == (kind == "car") else _OFF_LIST_COST


def _series_len(pattern: str) -> int:
    return {"L": 1, "LD": 2, "M": 3, "LL": 2}[pattern]


def _layout_hint(text: str) -> PlateKind | None:
    """Layout from separators, when the text has them: ``29-B1 ...`` is a motorbike, ``30A-...`` a car."""
    t = text.strip().upper().replace("Đ", "D")
    if re.match(r"^\d{2}\s*-\s*[A-Z]{1,2}\d\b", t) or re.match(r"^\d{2}\s*-\s*[A-Z]{2}\s", t):
        return "moto"
    if re.match(r"^\d{2}[A-Z]{1,2}\s*-", t):
        return "car"
    return None


def _parse_special(norm: str, kind_hint: PlateKind | None) -> Plate | None:
    """A military (``TM2701``) or foreign-format (``43346NG02``) plate, or None."""
    kind: PlateKind = kind_hint or "car"
    m = _MILITARY_RE.match(norm)
    if m is not None and m.group(1) in MILITARY_UNIT_LETTERS:
        unit, number = m.group(1) + m.group(2), m.group(3)
        return Plate("", unit, number, kind, norm, f"{unit}-{number[:2]}-{number[2:]}", "military")
    m = _FOREIGN_RE.match(norm)
    if m is not None and m.group(1) in PROVINCE_CODES:
        province, country, series, order = m.groups()
        canonical = f"{province}-{country}-{series}-{order}"
        return Plate(province, country + series, order, kind, norm, canonical, FOREIGN_SERIES[series])
    return None


def _parse_norm(norm: str, kind_hint: str | None) -> Plate | None:
    special = _parse_special(norm, _norm_kind(kind_hint))
    if special is not None:
        return special
    matches: list[tuple[float, Plate]] = []
    for kind, pattern, prior in _TEMPLATES:
        slen = _series_len(pattern)
        for nlen in (5, 4):
            if len(norm) != 2 + slen + nlen:
                continue
            province, series, number = norm[:2], norm[2 : 2 + slen], norm[2 + slen :]
            if province not in PROVINCE_CODES or not number.isdigit():
                continue
            if not _series_ok(series, pattern, kind):
                continue
            cost = prior + _series_cost(series, pattern, kind) + (0.0 if kind_hint in (None, kind) else 1.0)
            category = FOREIGN_SERIES.get(series, "civilian") if series != "CV" else "civilian"
            plate = Plate(province, series, number, kind, norm, _canonical(province, series, number, kind), category)
            matches.append((cost, plate))
    if not matches:
        return None
    return min(matches, key=lambda m: m[0])[1]


def parse(text: str, kind_hint: str | None = None) -> Plate | None:
    """Parse a plate string (any separators) into its parts, or ``None`` if it cannot be a plate.

    ``30A12345`` fits both a car (``30A-123.45``) and an old motorbike plate (``30-A1 2345``); the kind
    comes from ``kind_hint`` ("car"/"moto", e.g. the number of text lines seen), else from the separators
    in ``text``, else the car reading wins.
    """
    hint = _norm_kind(kind_hint) or _layout_hint(text)
    return _parse_norm(normalize(text), hint)


def is_plausible(norm: str) -> bool:
    """True if the (normalised or raw) string fits the grammar exactly, without correction."""
    return _parse_norm(normalize(norm), None) is not None


def _norm_kind(kind_hint: str | None) -> PlateKind | None:
    if kind_hint is None:
        return None
    k = kind_hint.lower()
    if k.startswith("car"):
        return "car"
    if k.startswith("moto"):
        return "moto"
    return None


def _fix_digit(c: str) -> tuple[str, float] | None:
    if c.isdigit():
        return c, 0.0
    return _LETTER_TO_DIGIT.get(c)


def _fix_letter(c: str) -> tuple[str, float] | None:
    if c in SERIES_LETTERS:
        return c, 0.0
    return _TO_LETTER.get(c)


def _fit(raw: str, kind: PlateKind, pattern: str, nlen: int) -> tuple[str, float] | None:
    """Map ``raw`` (exact length) onto one layout, fixing confusables by position; None if impossible."""
    slen = _series_len(pattern)
    if len(raw) != 2 + slen + nlen:
        return None
    out: list[str] = []
    cost = 0.0
    # Position classes: province digits, series (per pattern), number digits.
    if pattern == "L":
        classes = "DDL"
    elif pattern == "LD":
        classes = "DDLD"
    elif pattern == "M":
        classes = "DDLLD"
    else:
        classes = "DDLL"
    classes += "D" * nlen
    for c, cls in zip(raw, classes, strict=True):
        fixed = _fix_digit(c) if cls == "D" else _fix_letter(c)
        if fixed is None:
            return None
        out.append(fixed[0])
        cost += fixed[1]
    norm = "".join(out)
    province, series = norm[:2], norm[2 : 2 + slen]
    if province not in PROVINCE_CODES or not _series_ok(series, pattern, kind):
        return None
    return norm, cost + _series_cost(series, pattern, kind)


# Cost of dropping one character the OCR engine added (a border read as "1", a stray dot read as a letter).
_DROP_COST = 1.5
# Cost of fitting the layout the caller did not expect (e.g. a two-line plate read as a car series).
_KIND_MISMATCH_COST = 0.75


def correct(raw: str, kind_hint: str | None = None) -> tuple[str, float] | None:
    """Fix OCR confusions by position (O/0, I/1, B/8, D/0, Z/2, S/5, G/6, A/4 ...).

    Returns ``(norm, penalty)`` for the cheapest layout that fits, ``penalty`` 0.0 meaning the string already
    was a valid plate, or ``None`` when no plate fits. At most one extra character is dropped.
    """
    hint = _norm_kind(kind_hint)
    s = normalize(raw)
    if _parse_special(s, hint) is not None:
        return s, 0.0  # military and foreign plates are taken as they are, never "corrected"
    if not 7 <= len(s) <= 11:
        return None
    candidates: list[str] = [s]
    if len(s) >= 8:
        candidates += [s[:i] + s[i + 1 :] for i in range(len(s))]
    best: tuple[float, str] | None = None
    for idx, cand in enumerate(candidates):
        base = 0.0 if idx == 0 else _DROP_COST
        for kind, pattern, prior in _TEMPLATES:
            for nlen in (5, 4):
                fit = _fit(cand, kind, pattern, nlen)
                if fit is None:
                    continue
                norm, cost = fit
                total = base + cost + (0.0 if hint in (None, kind) else _KIND_MISMATCH_COST)
                # The layout prior only breaks ties; it is not reported as a penalty.
                key = total + prior * 0.01
                if best is None or key < best[0]:
                    best = (key, norm)
    if best is None:
        return None
    return best[1], round(best[0], 2)


def display(text: str, vehicle_class: str | None = None) -> str:
    """How a plate is printed on the vehicle, for every screen, receipt and page that shows one.

    The vehicle class decides the layout of plates that fit both (``54Y93476``: a motorbike's ``54-Y9 3476``,
    a car's ``54Y-934.76``); without it the grammar's own preference applies. A string that is no plate is
    shown as given (upper-cased), never guessed.
    """
    hint = None
    if vehicle_class:
        hint = "moto" if vehicle_class in ("motorbike", "bicycle", "moto") else "car"
    plate = parse(text, kind_hint=hint)
    return plate.canonical if plate is not None else text.strip().upper()


def plate_category(norm: str, colour: str | None = None) -> str:
    """``civilian``, ``commercial`` (yellow), ``state`` (blue), ``military`` (red or the military format),
    ``diplomatic`` (NG, CV), ``international_org`` (QT) or ``foreign_org`` (NN) from the plate's format and
    series and, when known, its background colour (``white`` | ``yellow`` | ``blue`` | ``red``, as the gate
    measures it).

    The text decides for military and foreign plates whatever the colour read; a coloured background
    decides the rest; without a colour a civilian-format plate is taken as civilian.
    """
    s = normalize(norm)
    plate = _parse_norm(s, None)
    if plate is not None and plate.category != "civilian":
        return plate.category
    series = s[2:4]
    if series == "NG":
        return "diplomatic"
    if series == "NN":
        return "foreign_org"
    return {"yellow": "commercial", "blue": "state", "red": "military"}.get((colour or "").lower(), "civilian")
