"""What the disputes domain tells others without importing them: a driver reported a problem at a lot.

The console registers its alert handler here (``parking.console.alerts``); disputes never imports the console,
which composes the domains (no import circle).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class ProblemReported:
    operator_id: uuid.UUID
    lot_id: uuid.UUID
    severity: str  # "critical" (asked for cash) | "warning"
    message: str
    dedupe_key: str
    data: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[AsyncSession, ProblemReported], Awaitable[None]]
_handlers: list[Handler] = []


def on_problem_reported(handler: Handler) -> Handler:
    """Register a handler (idempotent per function); it runs in the reporting transaction."""
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


async def problem_reported(db: AsyncSession, event: ProblemReported) -> None:
    for handler in list(_handlers):
        await handler(db, event)
