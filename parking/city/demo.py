"""A city-feed client for the demo (all read scopes and webhooks), its key kept in the data folder."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parking.city.auth import hash_key
from parking.city.service import create_client
from parking.models import CityClient
from parking.models.city import CITY_SCOPES


def read_key(path: Path) -> str | None:
    return str(json.loads(path.read_text()).get("key") or "") or None if path.exists() else None


def write_key(path: Path, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key}))
    path.chmod(0o600)


async def ensure_demo_client(db: AsyncSession, known_key: str | None) -> dict[str, Any]:
    """Idempotent: reuse the stored key while it still matches its client row, else mint a new one."""
    if known_key:
        ident, _, secret = known_key.removeprefix("cc_").partition(".")
        try:
            row = (await db.execute(select(CityClient).where(CityClient.id == uuid.UUID(ident)))).scalar()
        except ValueError:
            row = None
        if row is not None and row.key_hash == hash_key(secret):
            return {"key": known_key, "scopes": row.scopes}
    client, key = await create_client(db, "iHanoi (demo)", list(CITY_SCOPES), actor="demo")
    return {"key": key, "scopes": client.scopes}
