from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from parking.kit.deps import State

router = APIRouter(tags=["health"])


@router.get("/health", summary="Database and Redis status; 200 only when both answer")
async def health(state: State) -> JSONResponse:
    checks: dict[str, Any] = {}
    t0 = time.perf_counter()
    try:
        async with state.engine.connect() as conn:
            version = (await conn.execute(text("SHOW server_version"))).scalar_one()
            head = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()
        checks["database"] = {
            "status": "up",
            "version": version,
            "migration": head,
            "latency_ms": round((time.perf_counter() - t0) * 1000, 1),
        }
    except Exception as exc:
        checks["database"] = {"status": "down", "error": str(exc)[:300]}
    t1 = time.perf_counter()
    try:
        await state.redis.ping()
        checks["redis"] = {"status": "up", "latency_ms": round((time.perf_counter() - t1) * 1000, 1)}
    except Exception as exc:
        checks["redis"] = {"status": "down", "error": str(exc)[:300]}
    ok = all(c["status"] == "up" for c in checks.values())
    return JSONResponse({"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503)
