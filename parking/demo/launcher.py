"""Processes `parking run` starts beside the API: the edge simulators and the demo lot's gate agents.

The gate agents replay plate photos from ``PARKING_DATASETS_DIR/vn-plates`` (car crops at the car lot,
motorbike crops at the motorbike lot, through symlinks in the git-ignored data folder: the photos are never
copied into the repository). Without that folder they replay plates the project renders itself
(``python -m gate_agent render-demo-plates``). Each exit lane replays its entry lane's vehicles, in the same
order, some seconds later, so the demo shows stays that open and close.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

from parking.settings import Settings

PAYMENT_SIM_PORT = 8100
EINVOICE_SIM_PORT = 8790
IDENTITY_SIM_PORT = 8300  # the city's sign-in (OpenID Connect), simulated
DISPLAY_BASE_PORT = 8091
DEMO_FPS = 0.2  # one vehicle every 5 s per lane
EXIT_DELAY_S = 40.0


def cert_dir(settings: Settings) -> Path:
    return settings.data_dir / "certs"


def simulator_env(settings: Settings) -> dict[str, str]:
    """Settings the API needs to reach the simulators (set before the app starts)."""
    from parking.payments.demo import notification_env

    return {
        **notification_env(),
        "PARKING_PAYMENTS_PROVIDER_BASE_URL": f"http://127.0.0.1:{PAYMENT_SIM_PORT}",
        "PARKING_INVOICE_PROVIDER_URL": f"http://127.0.0.1:{EINVOICE_SIM_PORT}",
        "PARKING_INVOICE_CERT_DIR": str(cert_dir(settings)),
        "PARKING_DRIVERS_OIDC_ISSUER": f"http://127.0.0.1:{IDENTITY_SIM_PORT}",
    }


def simulator_commands(settings: Settings) -> list[tuple[str, list[str]]]:
    from parking.payments.demo import simulator_command

    einvoice = [
        sys.executable, "-m", "simulators.einvoice_provider",
        "--port", str(EINVOICE_SIM_PORT), "--cert-dir", str(cert_dir(settings)),
    ]  # fmt: skip
    identity = [sys.executable, "-m", "simulators.identity_provider", "--port", str(IDENTITY_SIM_PORT)]
    for plate in identity_demo_plates(settings):  # the demo's own cars, so the mobile page has sessions to show
        identity += ["--demo-vehicle", f"{plate}:car_small"]
    return [
        simulator_command(settings.public_base_url),
        ("einvoice-provider", einvoice),
        ("identity-provider", identity),
    ]


def payer_command(seeded: dict[str, Any]) -> tuple[str, list[str]]:
    """Demo drivers who scan the exit kiosks' VietQR with a banking app."""
    kiosks = [
        f"http://127.0.0.1:{DISPLAY_BASE_PORT + i}"
        for i, lane in enumerate(seeded["lanes"])
        if lane["direction"] == "exit"
    ]
    args = [a for k in kiosks for a in ("--kiosk", k)]
    bank = f"http://127.0.0.1:{PAYMENT_SIM_PORT}"
    return "demo-payer", [sys.executable, "-m", "simulators.payment_provider.demo_payer", "--bank", bank, *args]


def _frames_from_dataset(settings: Settings, kind: str, out: Path) -> int:
    """Symlink the dataset's crops of one plate kind into `out`; return how many."""
    src = settings.datasets_dir / "vn-plates"
    labels = src / "labels.csv"
    if not labels.is_file():
        return 0
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with labels.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("plate_kind") == kind and row.get("image_type", "crop") == "crop":
                target = out / row["file"]
                if not target.exists():
                    target.symlink_to(src / row["file"])
                rows.append({"file": row["file"], "plate_text": row["plate_text"], "plate_kind": kind})
    with (out / "labels.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "plate_text", "plate_kind"])
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def demo_frames(settings: Settings, kind: str) -> Path:
    out = settings.data_dir / "demo" / "frames" / kind
    if _frames_from_dataset(settings, kind, out):
        return out
    rendered = settings.data_dir / "demo" / "frames" / "rendered"
    if not (rendered / "labels.csv").exists():
        subprocess.run(
            [sys.executable, "-m", "gate_agent", "render-demo-plates", "--out", str(rendered), "--n", "40"], check=True
        )
    return rendered


def linked_demo_plates(settings: Settings, every: int = 3) -> tuple[str, ...]:
    """Every `every`-th car of the demo has a driver account with a linked wallet (charged without stopping)."""
    import vnplate

    labels = demo_frames(settings, "car_1line") / "labels.csv"
    with labels.open(newline="") as fh:
        plates = [vnplate.normalize(row["plate_text"]) for row in csv.DictReader(fh)]
    return tuple(p for i, p in enumerate(plates) if i % every == 0)


def identity_demo_plates(settings: Settings, every: int = 3) -> tuple[str, ...]:
    """Cars of the demo that the identity provider's first demo subject owns: ones without a linked wallet
    (they pay by VietQR), so signing in on the mobile page shows their stays, fees and proofs."""
    import vnplate

    labels = demo_frames(settings, "car_1line") / "labels.csv"
    if not labels.exists():
        return ()
    with labels.open(newline="") as fh:
        plates = [vnplate.normalize(row["plate_text"]) for row in csv.DictReader(fh)]
    return tuple(p for i, p in enumerate(plates) if i % every == 1)[:3]


def agent_config(settings: Settings, lane: dict[str, Any], frames: Path, port: int, seed: int) -> str:
    demo = settings.data_dir / "demo"
    name = f"{lane['lot']}-{lane['code']}"
    offset = EXIT_DELAY_S if lane["direction"] == "exit" else 0.0
    return f"""# Generated by `parking run` for the demo lot; see config/gate-agent.example.toml.
[lane]
server_url = "{settings.public_base_url}"
token = "{lane["token"]}"
lane_code = "{name}"
direction = "{lane["direction"]}"
vehicle_class = "{lane["vehicle_class"]}"

[camera]
source = "folder:{frames}"
fps = {DEMO_FPS}
loop = true
order_seed = {seed}
offset_s = {offset}

[reader]
engine = "default"
threads = 1

[barrier]
driver = "simulated"
state_file = "{demo / f"barrier-{name}.jsonl"}"

[display]
host = "127.0.0.1"
port = {port}

[queue]
path = "{demo / f"queue-{name}.sqlite"}"

[heartbeat]
interval_s = 10.0
"""


def agent_commands(settings: Settings, seeded: dict[str, Any]) -> list[tuple[str, list[str]]]:
    cmds: list[tuple[str, list[str]]] = []
    frames = {
        "car": demo_frames(settings, "car_1line"),
        "moto": demo_frames(settings, "moto_2line"),
    }
    for i, lane in enumerate(seeded["lanes"]):
        kind = "car" if str(lane["vehicle_class"]).startswith("car") else "moto"
        seed = 11 if kind == "car" else 29  # entry and exit lanes of a lot share the order
        path = settings.data_dir / "demo" / f"agent-{lane['lot']}-{lane['code']}.toml"
        path.write_text(agent_config(settings, lane, frames[kind], DISPLAY_BASE_PORT + i, seed))
        cmds.append(
            (f"agent-{lane['lot']}-{lane['code']}", [sys.executable, "-m", "gate_agent", "run", "--config", str(path)])
        )
    cmds.append(payer_command(seeded))
    return cmds


def describe(seeded: dict[str, Any]) -> list[str]:
    return [
        f"kiosk {lane['lot']}/{lane['code']} ({lane['direction']}): http://127.0.0.1:{DISPLAY_BASE_PORT + i}/"
        for i, lane in enumerate(seeded["lanes"])
    ]
