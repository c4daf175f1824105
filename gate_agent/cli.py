"""Command line of the lane process.

    python -m gate_agent run --config lane.toml
    python -m gate_agent check-config --config lane.toml
    python -m gate_agent render-demo-plates --out DIR --n 40 [--seed 7]

A misconfigured lane exits with status 2 and a message naming the setting.
"""

from __future__ import annotations

import argparse
import csv
import logging
import random
import signal
import sys
from pathlib import Path
from types import FrameType

import numpy as np
import structlog

from gate_agent.config import ConfigError, load_config

COMMANDS = ("run", "check-config", "render-demo-plates")


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gate_agent")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one lane")
    run.add_argument("--config", required=True, help="lane TOML file (see config/gate-agent.example.toml)")
    chk = sub.add_parser("check-config", help="validate a lane config and exit")
    chk.add_argument("--config", required=True)
    rd = sub.add_parser("render-demo-plates", help="render plate images + labels.csv for the demo lot")
    rd.add_argument("--out", required=True)
    rd.add_argument("--n", type=int, default=40)
    rd.add_argument("--seed", type=int, default=7)
    return p


def main(argv: list[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    # The package dispatcher may pass the arguments after "run" only.
    if not args_in or (args_in[0] not in COMMANDS and not args_in[0].startswith("-h")):
        args_in = ["run", *args_in]
    args = _parser().parse_args(args_in)
    if args.command == "render-demo-plates":
        return render_demo_plates(Path(args.out), args.n, args.seed)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"gate-agent: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        print(f"ok: lane {cfg.lane.lane_code} ({cfg.lane.direction}) -> {cfg.lane.server_url}")
        return 0
    _setup_logging()
    from gate_agent._agent import GateAgent  # after validation: builds the reader (may load OCR)

    try:
        agent = GateAgent(cfg)
    except ImportError as exc:
        print(
            f"gate-agent: configuration error: reader.engine = {cfg.reader.engine!r} needs the plate "
            f"reader ({exc}); install the `gate` extra: pip install -e '.[gate]'",
            file=sys.stderr,
        )
        return 2

    def _stop(signum: int, _frame: FrameType | None) -> None:
        agent.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    agent.run()
    return 0


# -- demo plates ----------------------------------------------------------------------------

HANOI = ["29", "30", "31", "32", "33", "40"]
LETTERS = "ABCDEFGHKLMNPSTUVXYZ"


def random_plate(rng: random.Random) -> tuple[str, str]:
    """A plate in the current Vietnamese formats: car one-line "30A-123.45" or motorbike
    two-line "29-B1 123.45" (see /work/shared/domain)."""
    prov = rng.choice(HANOI)
    n = rng.randrange(0, 100_000)
    digits = f"{n // 100:03d}.{n % 100:02d}"
    if rng.random() < 0.5:
        return f"{prov}{rng.choice(LETTERS)}-{digits}", "car_1line"
    return f"{prov}-{rng.choice(LETTERS)}{rng.randrange(1, 10)} {digits}", "moto_2line"


def render_demo_plates(out: Path, n: int, seed: int) -> int:
    from PIL import Image

    from gate_agent.reading.synth import render_plate

    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    seen: set[str] = set()
    rows: list[dict[str, str]] = []
    while len(rows) < n:
        text, kind = random_plate(rng)
        if text in seen:
            continue
        seen.add(text)
        img = np.asarray(render_plate(text, "moto" if kind == "moto_2line" else "car"))
        name = f"demo_{len(rows):04d}.png"
        # render_plate returns BGR (OpenCV order); Pillow writes RGB.
        arr = img[:, :, ::-1] if getattr(img, "ndim", 2) == 3 else img
        Image.fromarray(arr).save(out / name)
        rows.append({"file": name, "plate_text": text, "plate_kind": kind})
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "plate_text", "plate_kind"])
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {n} plates and labels.csv to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
