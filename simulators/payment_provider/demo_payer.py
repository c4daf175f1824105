"""Demo drivers with a banking app: watch the exit kiosks and pay the VietQR they show.

    python -m simulators.payment_provider.demo_payer --bank http://127.0.0.1:8100 \
        --kiosk http://127.0.0.1:8092 --kiosk http://127.0.0.1:8094

It reads each kiosk's ``/state.json`` the way a phone camera reads the screen, waits a few seconds (a
driver opening the app), then pays the QR through the simulated bank, alternating a bank-transfer
notification and a gateway IPN. Every ``--skip-every``-th QR is left unpaid, so the demo also shows a
car that leaves unpaid and becomes a debt.
"""

from __future__ import annotations

import argparse
import time

import httpx


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bank", default="http://127.0.0.1:8100")
    p.add_argument("--kiosk", action="append", default=[], help="kiosk base URL (repeatable)")
    p.add_argument("--delay-s", type=float, default=4.0, help="how long a driver takes to scan and confirm")
    p.add_argument("--skip-every", type=int, default=8, help="leave every Nth QR unpaid (0 = pay all)")
    p.add_argument("--poll-s", type=float, default=1.0)
    a = p.parse_args()
    seen: set[str] = set()
    first_seen: dict[str, float] = {}
    n = 0
    with httpx.Client(timeout=5) as client:
        while True:
            for kiosk in a.kiosk:
                try:
                    state = client.get(f"{kiosk.rstrip('/')}/state.json").json()
                except (httpx.HTTPError, ValueError):
                    continue
                qr = state.get("qr_payload")
                if state.get("kind") != "pay" or not qr or qr in seen:
                    continue
                first_seen.setdefault(qr, time.monotonic())
                if time.monotonic() - first_seen[qr] < a.delay_s:
                    continue
                seen.add(qr)
                n += 1
                if a.skip_every and n % a.skip_every == 0:
                    print(f"driver at {kiosk} drives off without paying {state.get('fee_vnd')} VND", flush=True)
                    continue
                channel = "sepay" if n % 2 else "vnpay"
                try:
                    r = client.post(f"{a.bank}/vietqr/pay", json={"qr_payload": qr, "channel": channel})
                    print(f"paid {state.get('fee_vnd')} VND at {kiosk} via {channel}: {r.status_code}", flush=True)
                except httpx.HTTPError as exc:
                    print(f"bank unreachable: {exc}", flush=True)
            time.sleep(a.poll_s)


if __name__ == "__main__":
    main()
