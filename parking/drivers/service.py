"""Driver rules: accounts, vehicles, linked methods, monthly passes. Never commits."""

from __future__ import annotations

import calendar
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import vnplate
from parking.drivers.auth import hash_password, issue_token, verify_password
from parking.kit.errors import AppError
from parking.ledger import repository as ledger_repo
from parking.ledger import rules as ledger
from parking.models import Debt, Driver, DriverVehicle, Lot, MonthlyPass, ParkingSession, Payment, PaymentMethod
from parking.payments import hooks
from parking.payments import repository as repo
from parking.payments.provider import ProviderClient
from parking.payments.settings import PaymentSettings, get_payment_settings

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def normalise_plate(text: str) -> str:
    plate = vnplate.parse(text)
    if plate is None:
        raise AppError("invalid_plate", f"{text!r} is not a Vietnamese plate.", 422)
    return plate.norm


async def register(
    db: AsyncSession,
    *,
    email: str,
    password: str,
    full_name: str,
    phone: str,
    settings: PaymentSettings | None = None,
) -> Driver:
    s = settings or get_payment_settings()
    d = Driver(
        id=uuid.uuid4(),
        email=email.strip().lower(),
        full_name=full_name,
        phone=phone,
        password_hash=hash_password(password),
        deferred_limit_vnd=s.default_deferred_limit_vnd,
    )
    try:
        async with db.begin_nested():
            db.add(d)
            await db.flush()
    except IntegrityError as exc:
        raise AppError("email_taken", "An account with this email already exists.", 409) from exc
    return d


async def login(
    db: AsyncSession, *, email: str, password: str, settings: PaymentSettings | None = None
) -> tuple[str, datetime]:
    s = settings or get_payment_settings()
    d = (await db.execute(select(Driver).where(Driver.email == email.strip().lower()))).scalar()
    if d is None or not verify_password(password, d.password_hash):
        raise AppError("bad_credentials", "Wrong email or password.", 401)
    return await issue_token(db, d.id, s.driver_token_ttl_days)


async def add_vehicle(db: AsyncSession, driver: Driver, *, plate: str, vehicle_class: str) -> DriverVehicle:
    norm = normalise_plate(plate)
    existing = (await db.execute(select(DriverVehicle).where(DriverVehicle.plate == norm))).scalar()
    if existing is not None:
        if existing.driver_id == driver.id:
            return existing
        raise AppError("plate_taken", "This plate is registered to another account.", 409)
    v = DriverVehicle(id=uuid.uuid4(), driver_id=driver.id, plate=norm, vehicle_class=vehicle_class)
    try:
        async with db.begin_nested():
            db.add(v)
            await db.flush()
    except IntegrityError as exc:
        raise AppError("plate_taken", "This plate is registered to another account.", 409) from exc
    # Debts of this plate from before the registration now belong to the driver.
    await db.execute(update(Debt).where(Debt.plate == norm, Debt.driver_id.is_(None)).values(driver_id=driver.id))
    return v


async def remove_vehicle(db: AsyncSession, driver: Driver, vehicle_id: uuid.UUID) -> None:
    v = (
        await db.execute(
            select(DriverVehicle).where(DriverVehicle.id == vehicle_id, DriverVehicle.driver_id == driver.id)
        )
    ).scalar()
    if v is None:
        raise AppError("vehicle_not_found", "No such vehicle on this account.", 404)
    await db.delete(v)


async def link_method(
    db: AsyncSession,
    driver: Driver,
    *,
    provider_token: str,
    kind: str,
    label: str,
    settings: PaymentSettings | None = None,
) -> PaymentMethod:
    s = settings or get_payment_settings()
    known = await ProviderClient(s).account_exists(provider_token)
    if known is None:
        raise AppError("provider_unavailable", "The payment provider cannot be reached; try again.", 503)
    if not known:
        raise AppError("unknown_provider_token", "The provider does not know this account token.", 422)
    # One active method per driver: linking a new one replaces the old one.
    await db.execute(
        update(PaymentMethod)
        .where(PaymentMethod.driver_id == driver.id, PaymentMethod.status == "active")
        .values(status="revoked")
    )
    m = PaymentMethod(
        id=uuid.uuid4(),
        driver_id=driver.id,
        provider=s.provider_name,
        kind=kind,
        token=provider_token,
        label=label,
        status="active",
    )
    db.add(m)
    await db.flush()
    return m


async def unlink_method(db: AsyncSession, driver: Driver, method_id: uuid.UUID) -> None:
    res = await db.execute(
        update(PaymentMethod)
        .where(PaymentMethod.id == method_id, PaymentMethod.driver_id == driver.id)
        .values(status="revoked")
    )
    if res.rowcount == 0:  # type: ignore[attr-defined]
        raise AppError("method_not_found", "No such payment method on this account.", 404)


def add_month(at: datetime) -> datetime:
    """Same local day next month (clamped to its last day), in Hanoi time."""
    local = at.astimezone(VN_TZ)
    y, m = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    day = min(local.day, calendar.monthrange(y, m)[1])
    return local.replace(year=y, month=m, day=day).astimezone(UTC)


def pass_price(tariffs: Any, lot: Lot, vehicle_class: str, at: datetime) -> tuple[int, str]:
    version = tariffs.version_in_force(lot.tariff_id, at.astimezone(VN_TZ).date()) if tariffs else None
    rule = version.rule_for.get((lot.tariff_zone, vehicle_class)) if version else None
    monthly = next((p for p in (rule.passes if rule else ()) if p.name == "monthly"), None)
    if monthly is None:
        raise AppError("no_monthly_pass", "This lot's tariff has no monthly pass for this vehicle class.", 409)
    return int(monthly.price_vnd), str(monthly.band)


async def buy_pass(
    db: AsyncSession,
    driver: Driver,
    *,
    plate: str,
    lot_id: uuid.UUID,
    start: datetime | None,
    tariffs: Any,
    idempotency_key: str | None,
    settings: PaymentSettings | None = None,
) -> MonthlyPass:
    s = settings or get_payment_settings()
    norm = normalise_plate(plate)
    vehicle = (
        await db.execute(select(DriverVehicle).where(DriverVehicle.plate == norm, DriverVehicle.driver_id == driver.id))
    ).scalar()
    if vehicle is None:
        raise AppError("vehicle_not_found", "Register the vehicle before buying a pass for it.", 404)
    lot = (await db.execute(select(Lot).where(Lot.id == lot_id))).scalar()
    if lot is None:
        raise AppError("lot_not_found", f"No lot {lot_id}.", 404)
    if start is not None and start.tzinfo is None:
        raise AppError("naive_datetime", "start must carry a time zone.", 422)
    key = f"pass-{driver.id}-{idempotency_key}" if idempotency_key else f"pass-{uuid.uuid4()}"
    prior = await repo.payment_by_key(db, key)
    if prior is not None and prior.status == "confirmed":
        found = (await db.execute(select(MonthlyPass).where(MonthlyPass.payment_id == prior.id))).scalar()
        if found is not None:
            return found
    valid_from = (start or datetime.now(UTC)).astimezone(UTC)
    price, band = pass_price(tariffs, lot, vehicle.vehicle_class, valid_from)
    method = (
        await db.execute(
            select(PaymentMethod).where(PaymentMethod.driver_id == driver.id, PaymentMethod.status == "active")
        )
    ).scalar()
    if method is None:
        raise AppError("no_linked_method", "Link a payment method to buy a pass.", 409)
    res = await ProviderClient(s).charge(
        token=method.token,
        amount_vnd=price,
        idempotency_key=key,
        description=f"Monthly pass {norm} {lot.code}",
        timeout_s=10.0,
    )
    if res.outcome == "unknown":
        raise AppError(
            "provider_unavailable",
            "The payment provider did not answer; retry with the same Idempotency-Key (you will not be charged twice).",
            503,
        )
    if res.outcome == "declined":
        raise AppError("charge_declined", f"The provider declined the charge ({res.code}).", 402)
    payment = prior or Payment(
        id=uuid.uuid4(),
        driver_id=driver.id,
        purpose="pass",
        amount_vnd=price,
        status="confirmed",
        method="linked",
        provider=method.provider,
        idempotency_key=key,
        flags=[],
    )
    payment.status, payment.provider_txn_id, payment.confirmed_at = (
        "confirmed",
        res.provider_txn_id,
        datetime.now(UTC),
    )
    if prior is None:
        db.add(payment)
    await db.flush()
    await ledger_repo.post_entry(
        db,
        ledger.pass_sold(payment_id=payment.id, lot_id=lot.id, provider=payment.provider, amount_vnd=price),
    )
    mp = MonthlyPass(
        id=uuid.uuid4(),
        driver_id=driver.id,
        plate=norm,
        lot_id=lot.id,
        vehicle_class=vehicle.vehicle_class,
        band=band,
        valid_from=valid_from,
        valid_until=add_month(valid_from),
        price_vnd=price,
        payment_id=payment.id,
        status="active",
    )
    db.add(mp)
    await db.flush()
    await hooks.payment_confirmed(db, payment.id)  # e.g. the pass's e-invoice, same transaction
    return mp


async def sessions_of(db: AsyncSession, driver: Driver, limit: int = 50) -> list[ParkingSession]:
    plates = select(DriverVehicle.plate).where(DriverVehicle.driver_id == driver.id)
    rows = await db.execute(
        select(ParkingSession)
        .where(ParkingSession.plate.in_(plates))
        .order_by(ParkingSession.created_at.desc())
        .limit(limit)
    )
    return list(rows.scalars())


async def debts_of(db: AsyncSession, driver: Driver) -> list[Debt]:
    plates = select(DriverVehicle.plate).where(DriverVehicle.driver_id == driver.id)
    rows = await db.execute(
        select(Debt).where((Debt.driver_id == driver.id) | Debt.plate.in_(plates)).order_by(Debt.created_at)
    )
    return list(rows.scalars())
