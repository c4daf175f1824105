"""Driver rules: accounts, vehicles, linked methods, monthly passes. Never commits."""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import vnplate
from parking.drivers.auth import hash_password, issue_token, verify_password
from parking.drivers.oidc import Identity
from parking.kit.errors import AppError
from parking.ledger import repository as ledger_repo
from parking.ledger import rules as ledger
from parking.models import (
    Debt,
    Driver,
    DriverVehicle,
    Lot,
    MonthlyPass,
    ParkingSession,
    Payment,
    PaymentMethod,
    VehicleClaim,
)
from parking.payments import hooks
from parking.payments import repository as repo
from parking.payments.provider import ProviderClient
from parking.payments.settings import PaymentSettings, get_payment_settings
from parking.vocabulary import VN_TZ


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
    if d is None or d.password_hash is None or not verify_password(password, d.password_hash):
        raise AppError("bad_credentials", "Wrong email or password.", 401)
    return await issue_token(db, d.id, s.driver_token_ttl_days)


def plate_fits_class(norm: str, vehicle_class: str) -> bool:
    """Does the plate's layout allow this vehicle class? (A motorbike plate is not a car's.)

    Some normalised plates fit both layouts (``54Y93476``: car ``54Y-934.76`` or motorbike ``54-Y9 3476``);
    those fit either class. Bicycles carry no plate layout of their own: any plate is accepted.
    """
    if vehicle_class == "bicycle":
        return True
    kind = "moto" if vehicle_class == "motorbike" else "car"
    plate = vnplate.parse(norm, kind_hint=kind)
    return plate is not None and plate.kind == kind


def check_class(norm: str, vehicle_class: str) -> None:
    if not plate_fits_class(norm, vehicle_class):
        raise AppError(
            "plate_class_mismatch",
            f"The plate {display_plate(norm)} does not have the layout of a {vehicle_class} plate.",
            422,
            {"vehicle_class": vehicle_class},
        )


def display_plate(norm: str, vehicle_class: str | None = None) -> str:
    return vnplate.display(norm, vehicle_class)


async def link_vehicle(
    db: AsyncSession,
    driver_id: uuid.UUID,
    norm: str,
    vehicle_class: str,
    *,
    verified_by: str,
    history_from: datetime,
) -> DriverVehicle:
    """Link a plate with its proof. The identity provider's registration data moves a plate from a previous
    holder (the car was sold); an operator's approval never takes a plate another account holds."""
    existing = (await db.execute(select(DriverVehicle).where(DriverVehicle.plate == norm).with_for_update())).scalar()
    if existing is not None and existing.driver_id != driver_id and verified_by != "idp":
        raise AppError("plate_taken", "This plate is linked to another account; the operator resolves it.", 409)
    if existing is not None:
        if existing.driver_id != driver_id or existing.verified_by != verified_by:
            existing.driver_id, existing.verified_by, existing.history_from = driver_id, verified_by, history_from
        existing.vehicle_class = vehicle_class
        v = existing
    else:
        v = DriverVehicle(
            id=uuid.uuid4(),
            driver_id=driver_id,
            plate=norm,
            vehicle_class=vehicle_class,
            verified_by=verified_by,
            history_from=history_from,
        )
        db.add(v)
    await db.flush()
    # Debts of this plate since the proven start of the holding belong to the driver; older ones do not.
    await db.execute(
        update(Debt)
        .where(Debt.plate == norm, Debt.driver_id.is_(None), Debt.created_at >= history_from)
        .values(driver_id=driver_id)
    )
    return v


async def add_vehicle(
    db: AsyncSession, driver: Driver, *, plate: str, vehicle_class: str, note: str = ""
) -> DriverVehicle | VehicleClaim:
    """A plate already proven for this driver is returned; any other becomes a claim for the operator."""
    norm = normalise_plate(plate)
    check_class(norm, vehicle_class)
    existing = (await db.execute(select(DriverVehicle).where(DriverVehicle.plate == norm))).scalar()
    if existing is not None and existing.driver_id == driver.id:
        return existing
    pending = (
        await db.execute(
            select(VehicleClaim).where(
                VehicleClaim.driver_id == driver.id, VehicleClaim.plate == norm, VehicleClaim.status == "pending"
            )
        )
    ).scalar()
    if pending is not None:
        return pending
    claim = VehicleClaim(
        id=uuid.uuid4(), driver_id=driver.id, plate=norm, vehicle_class=vehicle_class, status="pending", note=note
    )
    db.add(claim)
    await db.flush()
    return claim


async def claims_of(db: AsyncSession, driver: Driver) -> list[VehicleClaim]:
    rows = await db.execute(
        select(VehicleClaim).where(VehicleClaim.driver_id == driver.id).order_by(VehicleClaim.created_at.desc())
    )
    return list(rows.scalars())


def _claim_in_scope(lot_ids: Sequence[uuid.UUID], unseen_plates: bool) -> ColumnElement[bool]:
    """Who reviews a plate claim. A claim is per plate, not per lot: it belongs to every operator in whose lots the
    plate has parked (they hold the evidence: crops, times); a plate never seen at any lot goes to the admins of
    any operator (`unseen_plates`), since no operator's data is shown by it."""
    seen_here = exists().where(ParkingSession.plate == VehicleClaim.plate, ParkingSession.lot_id.in_(lot_ids))
    if not unseen_plates:
        return seen_here
    return or_(seen_here, ~exists().where(ParkingSession.plate == VehicleClaim.plate))


async def pending_claims(
    db: AsyncSession, *, lot_ids: Sequence[uuid.UUID], unseen_plates: bool, limit: int = 100
) -> list[VehicleClaim]:
    rows = await db.execute(
        select(VehicleClaim)
        .where(VehicleClaim.status == "pending", _claim_in_scope(lot_ids, unseen_plates))
        .order_by(VehicleClaim.created_at)
        .limit(limit)
    )
    return list(rows.scalars())


async def decide_claim(
    db: AsyncSession,
    claim_id: uuid.UUID,
    *,
    approve: bool,
    actor: str,
    reason: str,
    history_from: datetime | None,
    lot_ids: Sequence[uuid.UUID],
    unseen_plates: bool,
) -> VehicleClaim:
    claim = (
        await db.execute(
            select(VehicleClaim)
            .where(VehicleClaim.id == claim_id, _claim_in_scope(lot_ids, unseen_plates))
            .with_for_update()
        )
    ).scalar()
    if claim is None:
        raise AppError("claim_not_found", "No such plate claim.", 404)
    if claim.status != "pending":
        raise AppError("claim_decided", f"This claim is already {claim.status}.", 409)
    now = datetime.now(UTC)
    if approve:
        if history_from is not None and history_from.tzinfo is None:
            raise AppError("naive_datetime", "history_from must carry a time zone.", 422)
        await link_vehicle(
            db,
            claim.driver_id,
            claim.plate,
            claim.vehicle_class,
            verified_by="operator",
            history_from=min(history_from or now, now),
        )
    claim.status = "approved" if approve else "rejected"
    claim.decision_reason, claim.decided_by, claim.decided_at = reason, actor, now
    await db.flush()
    return claim


async def sign_in_with_identity(
    db: AsyncSession, identity: Identity, settings: PaymentSettings | None = None
) -> tuple[Driver, list[DriverVehicle]]:
    """Map the provider's subject to a driver account (created on first sign-in) and link the vehicles the
    provider asserts, from their registration date (or now when it gives none)."""
    s = settings or get_payment_settings()
    d = (
        await db.execute(
            select(Driver).where(Driver.identity_issuer == identity.issuer, Driver.identity_subject == identity.subject)
        )
    ).scalar()
    if d is None:
        d = Driver(
            id=uuid.uuid4(),
            # Not an address anyone can write to: the account is the provider's subject, not an e-mail.
            email=f"{uuid.uuid4().hex}@oidc.invalid",
            full_name=identity.name,
            phone="",
            password_hash=None,
            deferred_limit_vnd=s.default_deferred_limit_vnd,
            identity_issuer=identity.issuer,
            identity_subject=identity.subject,
        )
        db.add(d)
        await db.flush()
    elif identity.name and d.full_name != identity.name:
        d.full_name = identity.name
    now = datetime.now(UTC)
    linked = []
    for reg in identity.registrations:
        plate = vnplate.parse(reg.plate)
        if plate is None or not plate_fits_class(plate.norm, reg.vehicle_class):
            continue  # the provider's data is checked like anyone's
        linked.append(
            await link_vehicle(
                db, d.id, plate.norm, reg.vehicle_class, verified_by="idp", history_from=min(reg.since or now, now)
            )
        )
    return d, linked


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


def _visible_session() -> tuple[Any, Any]:
    """Sessions of a plate linked to the driver, from the proven start of the holding on."""
    return ParkingSession.plate == DriverVehicle.plate, func.coalesce(
        ParkingSession.entry_at, ParkingSession.created_at
    ) >= DriverVehicle.history_from


async def sessions_of(db: AsyncSession, driver: Driver, limit: int = 50) -> list[ParkingSession]:
    on_plate, since = _visible_session()
    rows = await db.execute(
        select(ParkingSession)
        .join(DriverVehicle, on_plate)
        .where(DriverVehicle.driver_id == driver.id, since)
        .order_by(ParkingSession.created_at.desc())
        .limit(limit)
    )
    return list(rows.scalars())


async def owns_session(db: AsyncSession, driver: Driver, session_id: uuid.UUID) -> bool:
    on_plate, since = _visible_session()
    found = await db.execute(
        select(ParkingSession.id)
        .join(DriverVehicle, on_plate)
        .where(DriverVehicle.driver_id == driver.id, since, ParkingSession.id == session_id)
    )
    return found.first() is not None


async def debts_of(db: AsyncSession, driver: Driver) -> list[Debt]:
    rows = await db.execute(
        select(Debt)
        .outerjoin(DriverVehicle, (DriverVehicle.plate == Debt.plate) & (DriverVehicle.driver_id == driver.id))
        .where(
            (Debt.driver_id == driver.id)
            | ((DriverVehicle.id.is_not(None)) & (Debt.created_at >= DriverVehicle.history_from))
        )
        .order_by(Debt.created_at)
    )
    return list(rows.scalars().unique())
