"""`parking invoices verify --date` from the command line, against the test database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest
import typer
from typer.testing import CliRunner

from parking.cli import services
from parking.invoices import xml as X
from parking.invoices.cli import register
from parking.settings import get_settings


@pytest.fixture
def cli(db_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    monkeypatch.setenv("PARKING_DATABASE_URL", db_url)
    monkeypatch.setenv("PARKING_REDIS_URL", redis_url)
    get_settings.cache_clear()
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """parking"""

    register(app, services)
    yield app
    get_settings.cache_clear()


def test_verify_command_reports_json_and_exit_code(cli: typer.Typer) -> None:
    today = datetime.now(X.VN_TZ).date().isoformat()
    res = CliRunner().invoke(cli, ["invoices", "verify", "--date", today])
    report = json.loads(res.stdout)
    assert report["day"] == today
    assert res.exit_code == (0 if report["clean"] else 1)
    bad = CliRunner().invoke(cli, ["invoices", "verify", "--date", "22/11/2026"])
    assert bad.exit_code == 2
