"""The minimal endpoint the gate benchmark compares itself with (issue 14.1): FastAPI + asyncpg, one INSERT.

    BASELINE_DATABASE_URL=postgresql://... uvicorn benchmarks.baseline_app:app --workers 2

Same request body and validation shape as ``POST /v1/gate/events`` (pydantic model, JSON answer), one row per
request into its own table on the same PostgreSQL, a pool per worker. Nothing else: no auth, no rules, no Redis.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from fastapi import FastAPI
from pydantic import BaseModel, Field

DDL = """
CREATE TABLE IF NOT EXISTS baseline_events (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    plate text,
    confidence double precision NOT NULL,
    captured_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)
"""


class EventIn(BaseModel):
    event_id: uuid.UUID
    kind: str = Field(pattern="^(entry|exit)$")
    plate: str | None = None
    confidence: float = Field(ge=0, le=1)
    captured_at: datetime


def _dsn() -> str:
    return os.environ["BASELINE_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(_dsn(), min_size=2, max_size=int(os.environ.get("BASELINE_POOL", "20")))
    async with pool.acquire() as conn:
        try:
            await conn.execute(DDL)
        except asyncpg.UniqueViolationError:  # two workers creating it at once
            pass
    app.state.pool = pool
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, Any]:
    return {"database": {"version": "baseline"}}


@app.post("/v1/gate/events")
async def post_event(ev: EventIn) -> dict[str, Any]:
    async with app.state.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO baseline_events (id, kind, plate, confidence, captured_at) VALUES ($1, $2, $3, $4, $5)",
            ev.event_id,
            ev.kind,
            ev.plate,
            ev.confidence,
            ev.captured_at,
        )
    return {"event_id": str(ev.event_id), "action": "open"}
