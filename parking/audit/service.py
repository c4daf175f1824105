from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import AuditLog
from parking.models.base import table


async def record(
    db: AsyncSession, *, actor: str, action: str, entity: str, entity_id: str, data: dict[str, Any]
) -> None:
    await db.execute(
        insert(table(AuditLog)).values(actor=actor, action=action, entity=entity, entity_id=entity_id, data=data)
    )
