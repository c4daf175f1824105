"""Wiring helpers for `make run`, the benchmark and the lead's app factory.

`simulator_command` is what `parking.demo.launcher.simulator_commands` returns for the payment provider;
the demo wallet's preload arguments (the demo driver with its linked wallet is seeded by
`parking.demo.drivers`). (The production scheduler job is in jobs.py.)
"""

from __future__ import annotations

import sys

from parking.payments.settings import PaymentSettings, get_payment_settings


def simulator_command(public_base_url: str, settings: PaymentSettings | None = None) -> tuple[str, list[str]]:
    s = settings or get_payment_settings()
    port = s.provider_base_url.rsplit(":", 1)[-1].split("/")[0]
    return "payment-provider", [
        sys.executable,
        "-m",
        "simulators.payment_provider",
        "--port",
        port,
        "--secret",
        s.provider_secret,
        "--webhook-url",
        public_base_url,
        "--bank-bin",
        s.qr_bank_bin,
        "--account",
        s.qr_account,
        "--sepay-auth",
        DEMO_SEPAY_AUTH,
        *demo_preload_args(),
    ]


DEMO_SEPAY_AUTH = "hmac"  # the demo simulator's webhook uses SePay's HMAC method (one method per webhook)


def notification_env() -> dict[str, str]:
    """The API's side of the demo simulator's notifications (no default secrets in the settings themselves).

    Read fresh (not through the cached settings): the launcher sets these before anything reads them.
    """
    secret = PaymentSettings().provider_secret
    return {
        "PARKING_PAYMENTS_SEPAY_AUTH": DEMO_SEPAY_AUTH,
        "PARKING_PAYMENTS_SEPAY_HMAC_SECRET": secret,
        "PARKING_PAYMENTS_VNPAY_HASH_SECRET": secret,
    }


DEMO_WALLET = "ewl_demo_linked_wallet"
DEMO_WALLET_BALANCE_VND = 50_000_000


def demo_preload_args() -> list[str]:
    """Extra simulator arguments so the demo driver's wallet exists when the simulator starts."""
    return ["--preload", f"{DEMO_WALLET}:{DEMO_WALLET_BALANCE_VND}"]
