"""SQL for a driver's own records (vehicles, linked payment methods, passes). No business rules."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import DriverVehicle, MonthlyPass, PaymentMethod


async def vehicles(db: AsyncSession, driver_id: uuid.UUID) -> Sequence[DriverVehicle]:
    return (await db.execute(select(DriverVehicle).where(DriverVehicle.driver_id == driver_id))).scalars().all()


async def payment_methods(db: AsyncSession, driver_id: uuid.UUID) -> Sequence[PaymentMethod]:
    query = select(PaymentMethod).where(PaymentMethod.driver_id == driver_id).order_by(PaymentMethod.created_at)
    return (await db.execute(query)).scalars().all()


async def passes(db: AsyncSession, driver_id: uuid.UUID) -> Sequence[MonthlyPass]:
    query = select(MonthlyPass).where(MonthlyPass.driver_id == driver_id).order_by(MonthlyPass.valid_from)
    return (await db.execute(query)).scalars().all()
