"""`parking` command line: run everything, serve, migrate, seed the demo, price a stay, verify invoices."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from parking.settings import REPO_ROOT, Settings, get_settings

app = typer.Typer(help="Cashless parking platform: no cash, no stop, always a receipt.", no_args_is_help=True)


def _terminate_like_interrupt() -> None:
    """SIGTERM (what a service manager sends) stops everything this command started, as Ctrl-C does.

    uvicorn shuts down on SIGTERM and then re-raises it with the handler that was there before: with the
    default one the process died at once, skipping every ``finally`` (simulators, gate agents, the demo
    payer, Redis and PostgreSQL were left running). This handler turns it into an exception instead."""

    def handler(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one clean shutdown; a second SIGTERM changes nothing
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def services(settings: Settings) -> Iterator[tuple[str, str]]:
    """Configured servers when PARKING_DATABASE_URL / PARKING_REDIS_URL are set; embedded ones otherwise."""
    if settings.database_url and settings.redis_url:
        yield settings.database_url, settings.redis_url
        return
    from parking.kit.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_database

    pg = rd = None
    try:
        db_url = settings.database_url
        if not db_url:
            typer.echo(f"· starting embedded PostgreSQL (data in {settings.data_dir / 'pg'})", err=True)
            pg = EmbeddedPostgres(settings.data_dir / "pg")
            pg.start()
            db_url = ensure_database(pg, "parking")
        redis_url = settings.redis_url
        if not redis_url:
            typer.echo("· starting embedded Redis", err=True)
            rd = EmbeddedRedis(settings.data_dir / "redis")
            redis_url = rd.start()
        os.environ["PARKING_DATABASE_URL"] = db_url
        os.environ["PARKING_REDIS_URL"] = redis_url
        get_settings.cache_clear()
        yield db_url, redis_url
    finally:
        if rd is not None:
            rd.stop()
        if pg is not None:
            pg.stop()


def run_migrations(db_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(REPO_ROOT / "alembic.ini"))
    cfg.attributes["url"] = db_url
    command.upgrade(cfg, "head")


async def _seed(db_url: str, settings: Settings) -> dict[str, Any]:
    from parking.city.demo import ensure_demo_client, read_key, write_key
    from parking.demo.drivers import seed_demo_driver
    from parking.demo.launcher import cert_dir, linked_demo_plates
    from parking.demo.seed import read_tokens, seed_demo, write_tokens
    from parking.demo.staff import read_passwords, seed_demo_staff, write_passwords
    from parking.invoices.certs import ensure_demo_credentials
    from parking.kit.db import make_engine, make_sessionmaker, transaction

    path = settings.data_dir / "demo" / "lanes.json"
    city_key_path = settings.data_dir / "demo" / "city-client.json"
    staff_path = settings.data_dir / "demo" / "staff.json"
    linked = linked_demo_plates(settings)
    engine = make_engine(db_url, 2)
    try:
        async with transaction(make_sessionmaker(engine)) as db:
            out = await seed_demo(db, read_tokens(path))
            out["driver"] = await seed_demo_driver(db, plates=linked)
            out["city_client"] = await ensure_demo_client(db, read_key(city_key_path))
            out["staff"] = await seed_demo_staff(db, out["operator"], read_passwords(staff_path))
    finally:
        await engine.dispose()
    write_tokens(path, out.pop("tokens"))  # after the commit: the file never names lanes that do not exist
    write_key(city_key_path, out["city_client"]["key"])
    write_passwords(staff_path, {s["email"]: s["password"] for s in out["staff"]})
    op = out["operator_row"]
    ensure_demo_credentials(cert_dir(settings), op["code"], op["name"], op["tax_code"])
    return out


@app.command()
def migrate() -> None:
    """Bring the database schema to the latest migration."""
    settings = get_settings()
    with services(settings) as (db_url, _):
        run_migrations(db_url)
        typer.echo("database migrated to head")


@app.command("seed-demo")
def seed_demo_cmd() -> None:
    """Create the demo operator, its two Hanoi lots and their lanes (idempotent)."""
    settings = get_settings()
    with services(settings) as (db_url, _):
        run_migrations(db_url)
        out = asyncio.run(_seed(db_url, settings))
        typer.echo(json.dumps({k: v for k, v in out.items() if k != "lanes"}, indent=2, ensure_ascii=False))
        typer.echo(f"lane tokens written to {settings.data_dir / 'demo' / 'lanes.json'}")


def _serve(settings: Settings, workers: int = 1) -> None:
    import uvicorn

    # The factory reads PARKING_DATABASE_URL / PARKING_REDIS_URL, which `services` has set for worker processes.
    uvicorn.run(
        "parking.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def _check_secrets(settings: Settings) -> None:
    """Before anything starts: outside demo/test mode, default or empty secrets stop the command."""
    from parking.secret_settings import InsecureConfiguration, enforce

    try:
        enforce(settings.mode, settings.data_dir, settings)
    except InsecureConfiguration as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(workers: int = typer.Option(1, min=1, max=16, help="API worker processes")) -> None:
    """Serve the API only (embedded PostgreSQL/Redis unless URLs are configured)."""
    settings = get_settings()
    _check_secrets(settings)
    _terminate_like_interrupt()
    with services(settings) as (db_url, _):
        run_migrations(db_url)
        _serve(settings, workers)


@app.command("bench-setup")
def bench_setup(
    lots: int = typer.Option(8, min=1, max=200, help="How many benchmark lots (one entry + one exit lane each)"),
    out: Path = typer.Option(Path(".parking/bench/lanes.json"), help="Where to write the lane tokens"),
) -> None:
    """Create high-capacity lots for benchmarks/gate_events.py and write their lane tokens."""
    from parking.demo.bench import create_bench_lots

    settings = get_settings()
    with services(settings) as (db_url, _):
        run_migrations(db_url)
        lanes = asyncio.run(create_bench_lots(db_url, lots))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(lanes, indent=2))
        typer.echo(f"{len(lanes)} lanes in {lots} lots written to {out}")


def _spawn(cmd: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    fh = log_path.open("ab")
    # Own process group: Ctrl-C reaches us once, and we stop the children in order.
    return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True)


def _stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


@app.command()
def run(agents: bool = typer.Option(True, help="Start the demo lot's gate agents")) -> None:
    """Run the whole platform: database, Redis, migrations, demo lots, simulators, API and gate agents."""
    from parking.demo import launcher

    os.environ.setdefault("PARKING_MODE", "demo")  # the demo launcher: secrets generated per installation
    get_settings.cache_clear()
    settings = get_settings()
    procs: list[subprocess.Popen[bytes]] = []
    _check_secrets(settings)  # demo: this installation's generated secrets, before the simulators are wired to them
    for key, value in launcher.simulator_env(settings).items():
        os.environ.setdefault(key, value)  # before anything reads the payment/invoice settings
    from parking.secret_settings import clear_caches

    clear_caches()
    _terminate_like_interrupt()
    with services(settings) as (db_url, _redis_url):
        typer.echo("· migrating", err=True)
        run_migrations(db_url)
        seeded = asyncio.run(_seed(db_url, settings))
        logs = settings.data_dir / "logs"
        for name, cmd in launcher.simulator_commands(settings):
            procs.append(_spawn(cmd, logs / f"{name}.log"))
        if agents:
            for name, cmd in launcher.agent_commands(settings, seeded):
                procs.append(_spawn(cmd, logs / f"{name}.log"))
        driver = seeded.get("driver", {})
        typer.echo(
            f"\n  Parking platform on {settings.public_base_url}  (API docs: /docs, health: /health)\n"
            f"  demo lots: {', '.join(str(lot['code']) for lot in seeded['lots'])}"
            f" · logs in {logs} · Ctrl-C stops everything\n"
            f"  demo driver {driver.get('email')} / {driver.get('password')} (linked wallet for "
            f"{len(driver.get('plates', []))} car plates)\n"
            f"  driver's mobile page: {settings.public_base_url}/m (sign in with the simulated iHanoi)\n"
            f"  city feed: {settings.public_base_url}/v1/city/occupancy with 'Authorization: Bearer "
            f"{seeded.get('city_client', {}).get('key')}'\n"
            f"  consoles: {settings.public_base_url}/console (operator), {settings.public_base_url}/console/finance\n"
            + "".join(
                f"    {s['role']:<10} {s['email']:<28} {s['password']}  lots: {', '.join(s['lots'])}\n"
                for s in seeded.get("staff", [])
            )
            + ("".join(f"  {line}\n" for line in launcher.describe(seeded)) if agents else ""),
            err=True,
        )
        try:
            _serve(settings)
        finally:
            typer.echo("· stopping", err=True)
            _stop_all(procs)


def _register_subcommands() -> None:
    from parking.pricing.cli import register as register_price

    register_price(app)
    from parking.invoices.cli import register as register_invoices

    register_invoices(app, services)
    from reconciliation.cli import register as register_reconcile

    register_reconcile(app)


_register_subcommands()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
