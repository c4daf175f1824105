"""The demo's driver: a linked e-wallet on the demo plates, so `make run` shows charges without stopping."""

from __future__ import annotations

from typing import Any

from parking.payments.demo import DEMO_WALLET
from parking.payments.settings import get_payment_settings


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
