"""A fixed-window request limit per client, counted in Redis (shared by every API worker).

Hand-written on purpose: it is one INCR + EXPIRE per request on the Redis the platform already runs; the
libraries (pyrate-limiter, limits) bring their own Redis clients and bucket models for the same two commands.
Redis down means no counting: the public read is served rather than refused (Redis only mirrors state).
"""

from __future__ import annotations

import time

import structlog
from fastapi import Request
from redis.asyncio import Redis
from redis.exceptions import RedisError

from parking.kit.errors import AppError

log = structlog.get_logger("parking.ratelimit")


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def check(redis: Redis, scope: str, client: str, per_minute: int, *, now: float | None = None) -> int:
    """Count one request; raise 429 ``rate_limited`` beyond ``per_minute``. Returns the count in the window."""
    window = int((now if now is not None else time.time()) // 60)
    key = f"rl:{scope}:{client}:{window}"
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("ratelimit.redis_unavailable", scope=scope, error=str(exc))
        return 0
    if int(count) > per_minute:
        retry = 60 - int(now if now is not None else time.time()) % 60
        raise AppError(
            "rate_limited",
            f"Too many requests: at most {per_minute} a minute; retry in {retry} s.",
            429,
            {"retry_after_s": retry, "limit_per_minute": per_minute},
        )
    return int(count)
