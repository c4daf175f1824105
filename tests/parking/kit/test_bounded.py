"""Issue 13.3: an unverified payment notification is counted and kept in bounded form, never stored whole."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit import bounded
from parking.kit.metrics import UNVERIFIED_NOTIFICATIONS
from parking.models import PaymentNotification

payloads = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=2000),
    lambda inner: st.lists(inner, max_size=30) | st.dictionaries(st.text(max_size=200), inner, max_size=60),
    max_leaves=80,
)


@given(payloads | st.binary(max_size=20_000))
def test_a_summary_is_bounded_whatever_arrives(payload: Any) -> None:
    s = bounded.summary(payload)
    assert len(orjson.dumps(s)) <= 2048
    assert set(s) == {"bytes", "sha256", "keys", "excerpt"} and len(s["sha256"]) == 64
    assert "\x00" not in s["excerpt"] and len(s["keys"]) <= bounded.MAX_KEYS


def _count(provider: str, reason: str) -> float:
    return float(UNVERIFIED_NOTIFICATIONS.labels(provider, reason)._value.get())


async def test_an_unverified_sepay_notification_is_counted_and_kept_short(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    marker = "bounded-" + "Z" * 8
    body = json.dumps({"id": 1, "content": marker + "x" * 50_000, "transferAmount": 1}).encode()
    before = _count("sepay", "bad_signature")
    r = await client.post(
        "/v1/payments/notify/sepay",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": "Apikey guessed"},
    )
    assert r.status_code == 401
    assert _count("sepay", "bad_signature") == before + 1
    async with sessionmaker() as db:
        rows = [
            p
            for p in (
                await db.execute(select(PaymentNotification.payload).where(PaymentNotification.verified.is_(False)))
            ).scalars()
            if marker in str(p)
        ]
    assert len(rows) == 1
    kept = rows[0]
    assert kept["bytes"] > 50_000 and len(orjson.dumps(kept)) <= 2048  # what arrived, not what it held
