"""Raise and resolve alerts (table ``alerts``): one open alert per kind and subject, so a condition seen on
every retry is one alert, not thousands. Runs in the caller's transaction; never commits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models.alerts import Alert

log = structlog.get_logger("parking.alerts")


async def raise_alert(
    db: AsyncSession, kind: str, subject: str, message: str, details: dict[str, Any] | None = None
) -> bool:
    """Open the alert unless it is already open; return whether it was newly raised."""
    new = (
        await db.execute(
            insert(Alert)
            .values(kind=kind, subject=subject, message=message, details=details or {})
            .on_conflict_do_nothing(index_elements=["kind", "subject"], index_where=text("resolved_at IS NULL"))
            .returning(Alert.id)
        )
    ).scalar_one_or_none()
    if new is not None:
        log.error("alert.raised", kind=kind, subject=subject, message=message)
    return new is not None


async def resolve_alert(db: AsyncSession, kind: str, subject: str) -> bool:
    """Close the open alert, if any; return whether one was open."""
    res = await db.execute(
        update(Alert)
        .where(Alert.kind == kind, Alert.subject == subject, Alert.resolved_at.is_(None))
        .values(resolved_at=datetime.now(UTC))
    )
    closed = bool(res.rowcount)  # type: ignore[attr-defined]
    if closed:
        log.info("alert.resolved", kind=kind, subject=subject)
    return closed
