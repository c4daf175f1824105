"""python -m simulators.payment_provider --port 8100 --webhook-url http://127.0.0.1:8000 --secret S"""

from __future__ import annotations

import argparse

import uvicorn

from simulators.payment_provider.app import SimConfig, create_app


def main() -> None:
    p = argparse.ArgumentParser(description="payment provider / bank simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--webhook-url", default=None, help="base URL of the parking API (paths are appended)")
    p.add_argument("--secret", default="dev-provider-secret", help="API bearer, SePay API key/HMAC, VNPAY hash")
    p.add_argument("--sepay-auth", choices=("apikey", "hmac"), default="hmac", help="the webhook's one auth method")
    p.add_argument("--bank-bin", default="970436")
    p.add_argument("--account", default="0011001234567")
    p.add_argument("--timeout-hang-s", type=float, default=30.0)
    p.add_argument("--late-delay-s", type=float, default=2.0)
    p.add_argument(
        "--preload",
        action="append",
        default=[],
        metavar="TOKEN:BALANCE",
        help="create a wallet at start (the demo driver's linked account)",
    )
    a = p.parse_args()
    preload = {t: int(b) for t, b in (x.rsplit(":", 1) for x in a.preload)}
    cfg = SimConfig(
        secret=a.secret,
        webhook_url=a.webhook_url,
        bank_bin=a.bank_bin,
        account=a.account,
        timeout_hang_s=a.timeout_hang_s,
        late_delay_s=a.late_delay_s,
        preload=preload,
        sepay_auth=a.sepay_auth,
    )
    uvicorn.run(create_app(cfg), host=a.host, port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
