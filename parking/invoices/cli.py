"""``parking invoices ...``: the invoice commands of the CLI.

The CLI hands in how to reach the database (``services``), so this module never imports ``parking.cli``
(no import circle between the CLI and the domain).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date
from typing import Annotated

import typer

from parking.invoices.verify import verify_url
from parking.settings import Settings, get_settings

Services = Callable[[Settings], AbstractContextManager[tuple[str, str]]]


def register(app: typer.Typer, services: Services) -> None:
    invoices = typer.Typer(help="Cash-register e-invoices.", no_args_is_help=True)

    @invoices.command("verify")
    def verify_cmd(
        day: Annotated[str, typer.Option("--date", help="Business day (GMT+7), YYYY-MM-DD")],
    ) -> None:
        """Per paid session one invoice for the fee; invoices without a payment, gaps, duplicates, late ones."""
        try:
            d = date.fromisoformat(day)
        except ValueError:
            typer.echo(f"--date must be YYYY-MM-DD, got {day!r}", err=True)
            raise typer.Exit(2) from None
        with services(get_settings()) as (db_url, _):
            rep = asyncio.run(verify_url(db_url, d))
        typer.echo(json.dumps(rep.to_dict(), indent=2, ensure_ascii=False))
        raise typer.Exit(0 if rep.clean else 1)

    app.add_typer(invoices, name="invoices")
