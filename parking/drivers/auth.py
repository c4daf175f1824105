"""Driver credentials: scrypt password hashes (stdlib) and opaque bearer tokens stored as SHA-256."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parking.kit.deps import DB
from parking.kit.errors import AppError
from parking.models import Driver, DriverToken

# scrypt parameters per OWASP's password storage cheat sheet (N=2^17 needs 128 MiB: too much for
# a 2-core demo box serving lanes; N=2^14, r=8 is the RFC 7914 interactive-login figure).
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(db: AsyncSession, driver_id: uuid.UUID, ttl_days: int) -> tuple[str, datetime]:
    token = "drv_" + secrets.token_urlsafe(32)  # 256 random bits: a fast hash is enough to store it
    expires = datetime.now(UTC) + timedelta(days=ttl_days)
    db.add(DriverToken(token_hash=token_hash(token), driver_id=driver_id, expires_at=expires))
    await db.flush()
    return token, expires


async def current_driver(db: DB, authorization: Annotated[str | None, Header()] = None) -> Driver:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AppError("unauthorized", "Log in and send 'Authorization: Bearer <token>'.", 401)
    return await driver_for_token(db, authorization[7:].strip())


async def driver_for_token(db: AsyncSession, token: str) -> Driver:
    h = token_hash(token)
    row = (
        await db.execute(
            select(Driver, DriverToken.expires_at)
            .join(DriverToken, DriverToken.driver_id == Driver.id)
            .where(DriverToken.token_hash == h)
        )
    ).first()
    if row is None or row[1] <= datetime.now(UTC):
        raise AppError("unauthorized", "The token is unknown or expired; log in again.", 401)
    return row[0]


CurrentDriver = Annotated[Driver, Depends(current_driver)]
