"""`parking price`: the fee of a stay and its lines, for operators and for drivers checking a receipt.

The lead's Typer app calls ``register(app)``; ``price_command`` is the plain function behind it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from parking.kit import money
from parking.pricing.engine import parse_instant, quote
from parking.pricing.errors import PricingError
from parking.pricing.loader import load_tariff_book
from parking.pricing.model import Quote

DEFAULT_TARIFFS_DIR = Path(__file__).resolve().parents[2] / "config" / "tariffs"

EXIT_BAD_INPUT = 2


def _vnd(amount: int) -> str:
    return money.vnd_en(amount)


def render_text(q: Quote) -> str:
    """A receipt-like explanation a driver can check line by line."""
    out = [
        f"Tariff   {q.tariff_id} v{q.tariff_version}: {q.legal_source}",
        f"Rule     {q.rule_id} ({q.certainty}): {q.rule_source}",
        f"Stay     {q.vehicle_class} in zone {q.zone}, "
        f"{q.entry.astimezone(q.tz).isoformat()} → {q.exit.astimezone(q.tz).isoformat()} ({q.timezone})",
        "",
    ]
    for line in q.lines:
        start, end = line.period_start.astimezone(q.tz), line.period_end.astimezone(q.tz)
        # seconds only when they matter (band edges), so the usual receipt stays short
        fmt = "%Y-%m-%d %H:%M:%S" if start.second or end.second else "%Y-%m-%d %H:%M"
        start_text, end_text = start.strftime(fmt), end.strftime(fmt)
        out.append(f"  {line.description}")
        out.append(
            f"      {start_text} → {end_text}   {line.units} × {line.unit_price_vnd:,} ({line.unit})"
            f" = {line.amount_vnd:,}"
        )
    out.append("")
    rate = f"{q.vat_rate_bp / 100:g}%"
    if q.prices_include_vat:
        out.append(
            f"Total    {_vnd(q.total_vnd)} (VAT {rate} included: {_vnd(q.vat_vnd)}; before VAT {_vnd(q.net_vnd)})"
        )
    else:
        out.append(f"Total    {_vnd(q.total_vnd)} ({_vnd(q.net_vnd)} + VAT {rate} {_vnd(q.vat_vnd)})")
    for note in q.notes:
        out.append(f"Note     {note}")
    return "\n".join(out)


def price_command(
    tariff: str,
    zone: str,
    vehicle: str,
    entry: str,
    exit: str,
    json_: bool,
    tariffs_dir: Path = DEFAULT_TARIFFS_DIR,
) -> int:
    """Print the fee of one stay; return the process exit code (2 on bad input, message on stderr)."""
    try:
        entry_at = parse_instant(entry, "entry")
        exit_at = parse_instant(exit, "exit")
        book = load_tariff_book(tariffs_dir, vat_path=tariffs_dir.parent / "vat.toml")
        q = quote(book, tariff_id=tariff, zone=zone, vehicle_class=vehicle, entry=entry_at, exit=exit_at)
    except PricingError as exc:
        if json_:
            err = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
            print(json.dumps(err, ensure_ascii=False), file=sys.stderr)
        else:
            print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if json_:
        print(json.dumps(q.to_dict(), ensure_ascii=False))
    else:
        print(render_text(q))
    return 0


def register(app: typer.Typer) -> None:
    """Add the `price` command to a Typer app."""

    @app.command("price")
    def price(
        tariff: Annotated[str, typer.Option("--tariff", help="Tariff id, e.g. hanoi-44-2017")],
        zone: Annotated[str, typer.Option("--zone", help="Zone of the tariff, e.g. urban")],
        vehicle: Annotated[str, typer.Option("--vehicle", help="bicycle, motorbike, car_small or car_large")],
        entry: Annotated[str, typer.Option("--entry", help="Entry instant, ISO 8601 with offset")],
        exit_: Annotated[str, typer.Option("--exit", help="Exit instant, ISO 8601 with offset")],
        json_: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
        tariffs_dir: Annotated[Path, typer.Option("--tariffs-dir", help="Folder of tariff files")] = (
            DEFAULT_TARIFFS_DIR
        ),
    ) -> None:
        """Compute the fee of a stay and explain it line by line."""
        code = price_command(tariff, zone, vehicle, entry, exit_, json_, tariffs_dir)
        if code:
            raise typer.Exit(code)
