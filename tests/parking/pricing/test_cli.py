"""`parking price` through a Typer app, as the lead wires it (register(app))."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from parking.pricing.cli import DEFAULT_TARIFFS_DIR, price_command, register
from tests.factories.pricing import BASE_TARIFF, METERED_RULE, write_book

app = typer.Typer()


@app.callback()
def _root() -> None:
    """Keeps `price` a sub-command, as in the real CLI."""


register(app)
runner = CliRunner()

STAY = ["--entry", "2026-11-22T08:00:00+07:00", "--exit", "2026-11-22T19:00:00+07:00"]


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["price", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_output() -> None:
    code, out, _ = run("--tariff", "hanoi-44-2017", "--zone", "urban", "--vehicle", "motorbike", *STAY, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["total_vnd"] == 12000 and isinstance(data["total_vnd"], int)
    assert data["lines"][0]["rule"] == "motorbike-urban/day_and_night_turn"
    assert data["tariff_id"] == "hanoi-44-2017" and data["tariff_version"] == 1
    assert data["net_vnd"] + data["vat_vnd"] == data["total_vnd"]


def test_text_output_explains_the_lines() -> None:
    code, out, _ = run(
        "--tariff",
        "hanoi-44-2017",
        "--zone",
        "urban",
        "--vehicle",
        "car_small",
        "--entry",
        "2026-11-22T08:00:00+07:00",
        "--exit",
        "2026-11-22T17:00:00+07:00",
    )
    assert code == 0
    assert "2 × 25,000 (hour) = 50,000" in out
    assert "5 × 45,000 (hour) = 225,000" in out
    assert "Total    345,000 VND" in out
    assert "uncertain" in out and "Note" in out


@pytest.mark.parametrize(
    ("args", "code_name"),
    [
        (["--tariff", "nope", "--zone", "urban", "--vehicle", "motorbike", *STAY], "unknown_tariff"),
        (["--tariff", "hanoi-44-2017", "--zone", "rural", "--vehicle", "motorbike", *STAY], "unknown_zone"),
        (
            ["--tariff", "hanoi-44-2017", "--zone", "urban", "--vehicle", "bus", *STAY],
            "unknown_vehicle_class",
        ),
        (
            [
                "--tariff",
                "hanoi-44-2017",
                "--zone",
                "urban",
                "--vehicle",
                "motorbike",
                "--entry",
                "2026-11-22T08:00:00",
                "--exit",
                "2026-11-22T09:00:00+07:00",
            ],
            "naive_datetime",
        ),
        (
            [
                "--tariff",
                "hanoi-44-2017",
                "--zone",
                "urban",
                "--vehicle",
                "motorbike",
                "--entry",
                "2026-11-22T10:00:00+07:00",
                "--exit",
                "2026-11-22T09:00:00+07:00",
            ],
            "exit_before_entry",
        ),
        (
            [
                "--tariff",
                "hanoi-44-2017",
                "--zone",
                "urban",
                "--vehicle",
                "motorbike",
                "--entry",
                "tomorrow",
                "--exit",
                "2026-11-22T09:00:00+07:00",
            ],
            "invalid_datetime",
        ),
    ],
)
def test_bad_input_exits_2_with_message_on_stderr(args: list[str], code_name: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert f"error ({code_name})" in err

    code, out, err = run(*args, "--json")
    assert code == 2 and out == ""
    assert json.loads(err)["error"]["code"] == code_name


def test_invalid_tariff_file(tmp_path: Path) -> None:
    tdir = write_book(tmp_path, BASE_TARIFF + METERED_RULE.replace("price_vnd = 20000", "price_vnd = -1"))
    code, out, err = run("--tariff", "t", "--zone", "z", "--vehicle", "car_small", *STAY, "--tariffs-dir", str(tdir))
    assert code == 2 and out == ""
    assert "invalid_tariff_file" in err and "t0.toml" in err and "negative" in err


def test_tariffs_dir_option(tmp_path: Path) -> None:
    tdir = write_book(tmp_path, BASE_TARIFF + METERED_RULE)
    code, out, _ = run(
        "--tariff", "t", "--zone", "z", "--vehicle", "car_small", *STAY, "--json", "--tariffs-dir", str(tdir)
    )
    assert code == 0 and json.loads(out)["total_vnd"] == 2 * 10000 + 9 * 20000


def test_default_dir_is_the_repo_config() -> None:
    assert DEFAULT_TARIFFS_DIR == Path(__file__).resolve().parents[3] / "config" / "tariffs"


def test_price_command_plain_function(capsys: pytest.CaptureFixture[str]) -> None:
    code = price_command(
        "example-declared-operator",
        "basement",
        "bicycle",
        "2026-11-22T08:00:00+07:00",
        "2026-11-22T09:00:00+07:00",
        True,
        DEFAULT_TARIFFS_DIR,
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["total_vnd"] == 2000


def test_answers_for_every_shipped_tariff_zone_and_class() -> None:
    from parking.pricing import load_tariff_book

    book = load_tariff_book(DEFAULT_TARIFFS_DIR)
    answered = 0
    for info in book.describe():
        zones = info["zones"]
        assert isinstance(zones, dict)
        day = str(info["valid_from"])
        for zone, body in zones.items():
            for vehicle in body["vehicle_classes"]:
                code, out, err = run(
                    "--tariff", str(info["tariff_id"]), "--zone", zone, "--vehicle", vehicle,
                    "--entry", f"{day}T07:30:00+07:00", "--exit", f"{day}T20:15:00+07:00", "--json",
                )  # fmt: skip
                assert code == 0, err
                data = json.loads(out)
                assert data["total_vnd"] > 0 and data["tariff_version"] == info["version"]
                answered += 1
    assert answered == 12
