"""Wiring helpers for `make run`, the benchmark and the lead's app factory.

`simulator_command` is what `parking.demo.launcher.simulator_commands` returns for the payment provider;
`seed_demo_driver` gives the demo a driver with a linked wallet. (The production scheduler job is in jobs.py.)
"""

from __future__ import annotations

import sys
from typing import Any

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


async def seed_demo_driver(
    db: Any,
    *,
    email: str = "demo.driver@example.vn",
    plates: tuple[str, ...] = ("30A12345",),
    password: str = "demo-driver-2026",
) -> dict[str, Any]:
    """A driver with a linked wallet for the demo (idempotent). Never commits."""
    import uuid

    from sqlalchemy import select

    from parking.drivers.auth import hash_password
    from parking.models import Driver, DriverVehicle, PaymentMethod

    s = get_payment_settings()
    d = (await db.execute(select(Driver).where(Driver.email == email))).scalar()
    if d is None:
        d = Driver(
            id=uuid.uuid4(),
            email=email,
            full_name="Demo Driver",
            phone="",
            password_hash=hash_password(password),
            deferred_limit_vnd=s.default_deferred_limit_vnd,
        )
        db.add(d)
        await db.flush()
    for plate in plates:
        if (await db.execute(select(DriverVehicle).where(DriverVehicle.plate == plate))).scalar() is None:
            db.add(DriverVehicle(id=uuid.uuid4(), driver_id=d.id, plate=plate, vehicle_class="car_small"))
    if (
        await db.execute(select(PaymentMethod).where(PaymentMethod.driver_id == d.id, PaymentMethod.status == "active"))
    ).scalar() is None:
        db.add(
            PaymentMethod(
                id=uuid.uuid4(),
                driver_id=d.id,
                provider=s.provider_name,
                kind="ewallet",
                token=DEMO_WALLET,
                label="Demo e-wallet",
                status="active",
            )
        )
    await db.flush()
    return {"email": email, "password": password, "plates": list(plates), "wallet": DEMO_WALLET}
