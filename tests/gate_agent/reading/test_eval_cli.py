"""`python -m gate_agent eval` on a labels CSV of rendered plates (no shared photos needed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import pytest

from gate_agent.reading.eval import char_accuracy, main
from gate_agent.reading.synth import render_plate
from vnplate import normalize

pytestmark = pytest.mark.gate


def test_char_accuracy() -> None:
    assert char_accuracy("30A12345", "30A12345") == 1.0
    assert char_accuracy("30A12345", "30A12346") == pytest.approx(7 / 8)
    assert char_accuracy("30A12345", "") == 0.0


def test_eval_json_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str], reader: object) -> None:
    plates = [("30A-123.45", "car_1line", "car"), ("59-X3 123.45", "moto_2line", "moto")]
    with (tmp_path / "labels.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "plate_text", "plate_norm", "plate_kind"])
        for i, (text, kind_label, kind) in enumerate(plates):
            cv2.imwrite(str(tmp_path / f"p{i}.png"), render_plate(text, kind))  # type: ignore[arg-type]
            w.writerow([f"p{i}.png", text, normalize(text), kind_label])
    out_csv = tmp_path / "reads.csv"
    code = main(["--labels", str(tmp_path / "labels.csv"), "--images", str(tmp_path), "--json",
                 "--warmup", "1", "--out-csv", str(out_csv)])  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 2
    assert 0.0 <= result["exact_match"] <= 1.0
    assert result["latency_ms"]["p50"] > 0 and result["latency_ms"]["p95"] >= result["latency_ms"]["p50"]
    assert set(result["by_kind"]) == {"car_1line", "moto_2line"}
    with out_csv.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == ["p0.png", "p1.png"]
    assert {"truth", "read", "exact", "confidence", "latency_ms"} <= set(rows[0])


def test_register_adds_eval_to_a_typer_app(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from gate_agent.reading.eval import register

    app = typer.Typer()

    @app.command()
    def other() -> None:  # a second command so that Typer keeps sub-commands
        pass

    register(app)
    result = CliRunner().invoke(app, ["eval", "--labels", str(tmp_path / "missing.csv"), "--json"])
    assert result.exit_code == 2  # main() reports the missing labels file
