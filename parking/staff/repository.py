"""SQL of the staff domain."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import Lot, StaffSession, StaffToken, StaffUser, StaffUserLot


async def user_by_email(db: AsyncSession, email: str) -> StaffUser | None:
    return (await db.execute(select(StaffUser).where(StaffUser.email == email.strip().lower()))).scalar_one_or_none()


async def user_lots(db: AsyncSession, user_id: uuid.UUID) -> frozenset[uuid.UUID]:
    rows = await db.execute(select(StaffUserLot.lot_id).where(StaffUserLot.user_id == user_id))
    return frozenset(r for (r,) in rows)


async def operator_lots(db: AsyncSession, operator_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await db.execute(select(Lot.id).where(Lot.operator_id == operator_id).order_by(Lot.code))
    return [r for (r,) in rows]


async def session_user(db: AsyncSession, token_hash: str, now: datetime) -> tuple[StaffUser, str] | None:
    row = (
        await db.execute(
            select(StaffUser, StaffSession.csrf_token)
            .join(StaffSession, StaffSession.user_id == StaffUser.id)
            .where(StaffSession.token_hash == token_hash, StaffSession.expires_at > now, StaffUser.active.is_(True))
        )
    ).one_or_none()
    return (row[0], row[1]) if row else None


async def token_user(db: AsyncSession, token_hash: str, now: datetime) -> tuple[StaffUser, StaffToken] | None:
    row = (
        await db.execute(
            select(StaffUser, StaffToken)
            .join(StaffToken, StaffToken.user_id == StaffUser.id)
            .where(
                StaffToken.token_hash == token_hash,
                StaffToken.revoked_at.is_(None),
                (StaffToken.expires_at.is_(None)) | (StaffToken.expires_at > now),
                StaffUser.active.is_(True),
            )
        )
    ).one_or_none()
    return (row[0], row[1]) if row else None


async def touch_token(db: AsyncSession, token_id: uuid.UUID, now: datetime) -> None:
    await db.execute(update(StaffToken).where(StaffToken.id == token_id).values(last_used_at=now))


async def delete_session(db: AsyncSession, token_hash: str) -> None:
    await db.execute(delete(StaffSession).where(StaffSession.token_hash == token_hash))


async def tokens_of_operator(db: AsyncSession, operator_id: uuid.UUID) -> list[tuple[StaffToken, str]]:
    rows = await db.execute(
        select(StaffToken, StaffUser.email)
        .join(StaffUser, StaffUser.id == StaffToken.user_id)
        .where(StaffUser.operator_id == operator_id)
        .order_by(StaffToken.created_at.desc())
    )
    return [(t, e) for t, e in rows.all()]


async def users_of_operator(db: AsyncSession, operator_id: uuid.UUID) -> list[StaffUser]:
    rows = await db.execute(select(StaffUser).where(StaffUser.operator_id == operator_id).order_by(StaffUser.email))
    return list(rows.scalars())
