"""Lane credentials: ``Bearer <lane_id>.<secret>``.

The secret is 256 random bits, so a single SHA-256 is enough to store it safely; a slow password KDF
(argon2/bcrypt) protects low-entropy human passwords and would add tens of ms to every gate event.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from parking.kit.errors import AppError
from parking.lanes import repository as repo


@dataclass(frozen=True)
class LaneInfo:
    id: uuid.UUID
    code: str
    lot_id: uuid.UUID
    lot_code: str
    direction: str
    vehicle_class: str
    tariff_id: str
    tariff_zone: str
    credential_hash: str
    enabled: bool


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def make_token(lane_id: uuid.UUID, secret: str) -> str:
    return f"{lane_id}.{secret}"


class LaneCache:
    """Lanes change rarely; caching them keeps a DB round trip off every gate event."""

    def __init__(self, ttl_s: float = 30.0) -> None:
        self.ttl_s = ttl_s
        self._items: dict[uuid.UUID, tuple[float, LaneInfo]] = {}

    async def get(self, db: AsyncSession, lane_id: uuid.UUID) -> LaneInfo | None:
        hit = self._items.get(lane_id)
        now = time.monotonic()
        if hit and now - hit[0] < self.ttl_s:
            return hit[1]
        row = await repo.lane_with_lot(db, lane_id)
        if row is None:
            self._items.pop(lane_id, None)
            return None
        lane, lot_code, tariff_id, zone = row
        info = LaneInfo(
            lane.id,
            lane.code,
            lane.lot_id,
            lot_code,
            lane.direction,
            lane.vehicle_class,
            tariff_id,
            zone,
            lane.credential_hash,
            lane.enabled,
        )
        self._items[lane_id] = (now, info)
        return info

    def clear(self) -> None:
        self._items.clear()


async def authenticate(db: AsyncSession, cache: LaneCache, authorization: str | None) -> LaneInfo:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AppError(
            "missing_credential", "This endpoint needs the lane's credential: 'Authorization: Bearer <token>'.", 401
        )
    token = authorization[7:].strip()
    lane_part, _, secret = token.partition(".")
    try:
        lane_id = uuid.UUID(lane_part)
    except ValueError:
        raise AppError(
            "unknown_lane", "The credential does not name a lane (expected '<lane_id>.<secret>').", 401
        ) from None
    lane = await cache.get(db, lane_id)
    if lane is None:
        raise AppError("unknown_lane", f"No lane {lane_id} is registered.", 401, {"lane_id": str(lane_id)})
    if not secret or not hmac.compare_digest(hash_secret(secret), lane.credential_hash):
        raise AppError("wrong_credential", f"The credential for lane {lane.code} is wrong.", 401, {"lane": lane.code})
    if not lane.enabled:
        raise AppError("lane_disabled", f"Lane {lane.code} is disabled by the operator.", 403, {"lane": lane.code})
    return lane
