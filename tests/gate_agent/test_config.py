from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from gate_agent.cli import main
from gate_agent.config import AgentConfig, ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).parents[2] / "config" / "gate-agent.example.toml"


def _valid(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "frames").mkdir(exist_ok=True)
    return {
        "lane": {
            "server_url": "http://127.0.0.1:8000/",
            "token": "t0k",
            "lane_code": "A1",
            "direction": "entry",
        },
        "camera": {"source": f"folder:{tmp_path / 'frames'}"},
        "queue": {"path": str(tmp_path / "q.sqlite")},
    }


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    cfg = parse_config(_valid(tmp_path))
    assert cfg.lane.server_url == "http://127.0.0.1:8000"
    assert cfg.reader.engine == "default"  # the real OCR reader, never the sidecar, by default
    assert cfg.barrier.driver == "simulated"


def test_example_config_is_valid(tmp_path: Path) -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    # The example points at the shared photos; make it independent of this machine.
    (tmp_path / "frames").mkdir()
    data["camera"]["source"] = f"folder:{tmp_path / 'frames'}"
    data["queue"]["path"] = str(tmp_path / "q.sqlite")
    assert isinstance(parse_config(data), AgentConfig)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["lane"].pop("token"), "lane.token is missing"),
        (lambda d: d["lane"].update(token="CHANGE_ME"), "lane.token: is empty or still the placeholder"),
        (lambda d: d["lane"].update(direction="sideways"), "lane.direction:"),
        (lambda d: d["lane"].update(server_url="ftp://x"), "lane.server_url: must start with http"),
        (
            lambda d: d["camera"].update(source="folder:/nope/x"),
            "camera.source: folder /nope/x does not exist",
        ),
        (lambda d: d["camera"].update(source="usb:abc"), "camera.source: usb camera index must be a number"),
        (lambda d: d["camera"].update(fps=0), "camera.fps:"),
        (lambda d: d["camera"].update(fsp=3), "camera.fsp is not a known setting"),
        (lambda d: d.update(barrier={"driver": "http_relay"}), "barrier.url: is required"),
        (
            lambda d: d["queue"].update(path="/nope/dir/q.sqlite"),
            "queue.path: directory /nope/dir does not exist",
        ),
        (lambda d: d.pop("queue"), "queue is missing"),
    ],
)
def test_bad_setting_is_named(tmp_path: Path, mutate: Any, message: str) -> None:
    data = _valid(tmp_path)
    mutate(data)
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert message in str(exc.value)


def test_cli_refuses_to_start_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "lane.toml"
    cfg.write_text(
        '[lane]\nserver_url = "http://x"\nlane_code = "A"\ndirection = "entry"\n'
        f'[camera]\nsource = "folder:{tmp_path}"\n[queue]\npath = "{tmp_path}/q.sqlite"\n'
    )
    assert main(["run", "--config", str(cfg)]) == 2
    assert "lane.token is missing" in capsys.readouterr().err


def test_cli_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "lane.toml"
    cfg.write_text(
        '[lane]\nserver_url = "http://x"\ntoken = "abc"\nlane_code = "A"\ndirection = "exit"\n'
        f'[camera]\nsource = "folder:{tmp_path}"\n[queue]\npath = "{tmp_path}/q.sqlite"\n'
    )
    assert main(["check-config", "--config", str(cfg)]) == 0
    assert "lane A (exit)" in capsys.readouterr().out


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("[lane\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)


def test_render_demo_plates_writes_images_and_labels(tmp_path: Path) -> None:
    import csv
    import threading

    from gate_agent._camera import FolderSource

    out = tmp_path / "demo"
    assert main(["render-demo-plates", "--out", str(out), "--n", "6", "--seed", "3"]) == 0
    with (out / "labels.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and len({r["plate_text"] for r in rows}) == 6
    src = FolderSource(out, fps=100, loop=False)
    frames = list(src.frames(threading.Event()))
    assert [f.label for f in frames] == [r["plate_text"] for r in rows]
    assert src.stats.frames_bad == 0


def test_min_confidence_defaults_to_the_engines_shipped_operating_point(tmp_path: Path) -> None:
    import json

    from gate_agent.reading import DEFAULT_ENGINE, MODELS_DIR, operating_point

    shipped = json.loads((MODELS_DIR / "operating_point.json").read_text())
    for engine in ("default", "vnlpr", "rapidocr"):
        data = _valid(tmp_path)
        data["reader"] = {"engine": engine}
        name = DEFAULT_ENGINE if engine == "default" else engine
        # Read from the shipped file, not from a constant of its own.
        assert parse_config(data).reader.min_confidence == shipped[name]["operating_threshold"]
        assert operating_point(engine) == shipped[name]


def test_min_confidence_set_in_the_file_overrides_the_operating_point(tmp_path: Path) -> None:
    data = _valid(tmp_path)
    data["reader"] = {"engine": "vnlpr", "min_confidence": 0.42}
    assert parse_config(data).reader.accept_threshold == 0.42


def test_engine_without_calibration_gets_the_fallback_threshold(tmp_path: Path) -> None:
    from gate_agent.reading import FALLBACK_OPERATING_POINT

    data = _valid(tmp_path)
    data["reader"] = {"engine": "sidecar"}
    assert parse_config(data).reader.accept_threshold == FALLBACK_OPERATING_POINT["operating_threshold"]


def test_the_lane_fuser_accepts_at_the_configured_threshold() -> None:
    from gate_agent._readers import VehicleSplitter

    splitter = VehicleSplitter(1.0, use_reading_fuser=True, accept=0.97)
    assert splitter._fuser.accept == 0.97
