"""`parking reconcile ...`: import the bank's files, run a day, write the finance report, reconcile the demo.

Other tools script against these names and JSON keys: keep them.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Nightly reconciliation: bank statements and settlement reports against sessions.",
                  no_args_is_help=True)  # fmt: skip


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        typer.echo(f"--date must be YYYY-MM-DD, got {value!r}", err=True)
        raise typer.Exit(2) from None


def _with_db(fn: Any) -> Any:
    """Run `fn(sessionmaker)` against the configured (or embedded) database, migrated to head."""
    from parking.cli import run_migrations, services
    from parking.kit.db import make_engine, make_sessionmaker
    from parking.kit.logging import configure_logging
    from parking.settings import get_settings

    configure_logging("WARNING")  # log lines on stderr: stdout carries only the result (scripts parse it)

    async def go(db_url: str) -> Any:
        engine = make_engine(db_url, 2)
        try:
            return await fn(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    with services(get_settings()) as (db_url, _):
        run_migrations(db_url)
        return asyncio.run(go(db_url))


def _fail(exc: Exception) -> None:
    from parking.kit.errors import AppError

    if isinstance(exc, AppError):
        typer.echo(json.dumps({"error": {"code": exc.code, "message": exc.message, "details": exc.details}},
                              ensure_ascii=False), err=True)  # fmt: skip
        raise typer.Exit(1) from None
    raise exc


@app.command("import")
def import_cmd(
    provider: Annotated[str, typer.Option("--provider", help="Bank or intermediary name, e.g. vietcombank, sim")],
    kind: Annotated[str, typer.Option("--kind", help="bank-statement | settlement")],
    file: Annotated[Path, typer.Option("--file", exists=True, dir_okay=False, help="CSV or XLSX file")],
    preset: Annotated[str | None, typer.Option("--preset", help="Column preset in config/banks (statements)")] = None,
) -> None:
    """Import a bank statement or a settlement report (a file already imported changes nothing)."""
    from parking.kit.db import transaction
    from parking.settings import get_settings
    from reconciliation.importer import import_file

    async def go(sm: Any) -> dict[str, Any]:
        async with transaction(sm) as db:
            return await import_file(
                db, provider=provider, kind=kind, path=file, config_dir=get_settings().config_dir, preset=preset
            )

    try:
        out = _with_db(go)
    except Exception as exc:
        _fail(exc)
        return
    typer.echo(json.dumps(out, ensure_ascii=False))


async def _progress_run(sm: Any, day: date, *, heal: bool, quiet: bool) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from parking.kit.db import transaction
    from reconciliation.service import run_day

    steps = ["clear", "match_statement", "match_settlement", "classify", "heal", "summarise"]
    console = Console(stderr=True)

    async def go(progress: Progress | None) -> dict[str, Any]:
        task = progress.add_task("đối soát / reconciling", total=len(steps)) if progress else None

        def step(name: str) -> None:
            if progress is not None and task is not None:
                progress.update(task, completed=steps.index(name), description=f"{day} · {name}")

        async with transaction(sm) as db:
            out = await run_day(db, day, trigger="cli", heal=heal, progress=step)
        if progress is not None and task is not None:
            progress.update(task, completed=len(steps), description=f"{day} · done")
        assert out is not None
        return out

    if quiet:
        return await go(None)
    # The bar goes to stderr, so `--json` output on stdout stays one clean object.
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as p:
        return await go(p)


@app.command("run")
def run_cmd(
    day: Annotated[str, typer.Option("--date", help="Business day (Asia/Ho_Chi_Minh), YYYY-MM-DD")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    heal: Annotated[bool, typer.Option("--heal/--no-heal", help="Apply the self-healing steps")] = True,
) -> None:
    """Reconcile one business day (re-running it gives the same result)."""
    d = _day(day)

    async def go(sm: Any) -> dict[str, Any]:
        return await _progress_run(sm, d, heal=heal, quiet=False)

    try:
        out = _with_db(go)
    except Exception as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    _print_summary(out)


def _print_summary(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from reconciliation.report import CLASS_VI

    t = Table(title=f"Đối soát / Reconciliation {out['date']}")
    t.add_column("Loại / Class")
    t.add_column("Số / Count", justify="right")
    for code, n in out["discrepancies"].items():
        t.add_row(f"{CLASS_VI[code]} ({code})", str(n))
    a = out["amounts"]
    console = Console()
    console.print(t)
    console.print(
        f"giao dịch / payments {out['payments']} · khớp / matched {out['matched']} · "
        f"phải thu / expected {a['expected_vnd']:,} · đã về / settled {a['settled_vnd']:,} · "
        f"chênh lệch / difference {a['difference_vnd']:,} VND".replace(",", ".")
    )
    console.print(f"tự xử lý / healed: {json.dumps(out['healed'])}")


@app.command("report")
def report_cmd(
    day: Annotated[str, typer.Option("--date", help="Business day, YYYY-MM-DD")],
    fmt: Annotated[str, typer.Option("--format", help="json | csv | xlsx | pdf")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the report")],
    lang: Annotated[str, typer.Option("--lang", help="vi (default) | en")] = "vi",
) -> None:
    """Write the finance report of a reconciled day (per day, per lot, per provider, discrepancies)."""
    d = _day(day)
    from reconciliation import report

    async def go(sm: Any) -> Path:
        async with sm() as db:
            data = await report.report_data(db, d)
        return report.write(data, fmt, out, lang)

    try:
        path = _with_db(go)
    except Exception as exc:
        _fail(exc)
        return
    typer.echo(str(path))


@app.command("demo")
def demo_cmd(
    day: Annotated[str | None, typer.Option("--date", help="Day the demo ran (default: today, Hanoi time)")] = None,
    sim_url: Annotated[str | None, typer.Option("--sim-url", help="Payment simulator URL")] = None,
    inject: Annotated[bool, typer.Option("--inject/--no-inject", help="Inject one fault of each kind")] = True,
    layout: Annotated[str, typer.Option("--layout", help="Bank layout of the statement")] = "vietcombank",
) -> None:
    """Reconcile the demo's day: the simulator injects faults, delivers its files, we import and run."""
    from parking.kit.db import transaction
    from parking.payments.settings import get_payment_settings
    from reconciliation.demo import reconcile_demo_day
    from reconciliation.rules import VN_TZ

    d = _day(day) if day else datetime.now(VN_TZ).date()
    url = sim_url or get_payment_settings().provider_base_url

    async def go(sm: Any) -> dict[str, Any]:
        async with transaction(sm) as db:
            return await reconcile_demo_day(db, d, sim_url=url, layout=layout, inject=inject)

    try:
        out = _with_db(go)
    except Exception as exc:
        _fail(exc)
        return
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2))


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="reconcile")
