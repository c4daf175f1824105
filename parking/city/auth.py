"""City-feed clients: ``Authorization: Bearer cc_<client_id>.<secret>``, each client with its scopes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Header
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parking.kit.deps import DB
from parking.kit.errors import AppError
from parking.models import CityClient


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def make_key(client_id: uuid.UUID) -> tuple[str, str]:
    """(the key given to the client once, the hash we keep)."""
    secret = secrets.token_urlsafe(32)
    return f"cc_{client_id}.{secret}", hash_key(secret)


async def authenticate(db: AsyncSession, authorization: str | None) -> CityClient:
    if not authorization or not authorization.lower().startswith("bearer cc_"):
        raise AppError("unauthorized", "City feed: send 'Authorization: Bearer cc_<client>.<secret>'.", 401)
    ident, _, secret = authorization[10:].strip().partition(".")
    try:
        client_id = uuid.UUID(ident)
    except ValueError:
        raise AppError("unauthorized", "The city-feed key is malformed.", 401) from None
    c = (await db.execute(select(CityClient).where(CityClient.id == client_id))).scalar()
    if c is None or not secret or not hmac.compare_digest(hash_key(secret), c.key_hash) or not c.enabled:
        raise AppError("unauthorized", "Unknown, wrong or disabled city-feed key.", 401)
    return c


def scope(name: str) -> Callable[..., Coroutine[Any, Any, CityClient]]:
    async def dep(db: DB, authorization: Annotated[str | None, Header()] = None) -> CityClient:
        c = await authenticate(db, authorization)
        if name not in c.scopes:
            raise AppError("insufficient_scope", f"This key lacks the scope {name}.", 403, {"required": name})
        return c

    return dep


PlacesReader = Annotated[CityClient, Depends(scope("places:read"))]
OccupancyReader = Annotated[CityClient, Depends(scope("occupancy:read"))]
RatesReader = Annotated[CityClient, Depends(scope("rates:read"))]
AggregatesReader = Annotated[CityClient, Depends(scope("aggregates:read"))]
WebhookManager = Annotated[CityClient, Depends(scope("webhooks:manage"))]
