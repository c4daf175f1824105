"""Rate limits per client address and per lane credential: token buckets in Redis (one atomic script, one
round trip per request), so every API worker shares them.

Hand-written (a dozen lines of Lua) rather than a library: the buckets must key on the lane credential
before the request reaches the database, answer in our JSON error shape, and fail OPEN when Redis is out
of reach (the gate must keep deciding; PostgreSQL guards the state). The lane bucket is keyed by a digest
of the whole bearer token, so a caller who sends another lane's id with a wrong secret only spends its own
(and its address's) budget.

``check`` below is the second, finer tool: a per-endpoint fixed-window limit (one INCR + EXPIRE) for public
reads that need a tighter budget than the global buckets (find-a-space), failing open the same way.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from fastapi import Request
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from parking.kit.errors import AppError, error_body

log = structlog.get_logger("parking.ratelimit")

# KEYS: buckets; ARGV: rate_1, burst_1, rate_2, burst_2, ... Takes a token from every bucket or from none.
# Returns 0 when allowed, else the seconds until a token is back in the emptiest bucket.
TOKEN_BUCKETS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local b = redis.call('HMGET', key, 't', 'v')
  local last = tonumber(b[1]) or now
  local tokens = math.min(burst, (tonumber(b[2]) or burst) + (now - last) * rate)
  if tokens < 1 then wait = math.max(wait, (1 - tokens) / rate) end
  state[i] = tokens
end
if wait == 0 then
  for i, key in ipairs(KEYS) do
    local rate = tonumber(ARGV[2 * i - 1])
    local burst = tonumber(ARGV[2 * i])
    redis.call('HSET', key, 't', tostring(now), 'v', tostring(state[i] - 1))
    redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
  end
end
return tostring(wait)
"""


@dataclass
class Limits:
    client_rate: float = 50.0  # tokens per second per client address
    client_burst: float = 200.0
    lane_rate: float = 20.0  # per lane credential
    lane_burst: float = 60.0
    exempt: list[str] = field(default_factory=list)  # client addresses never limited (e.g. a local benchmark)


class RateLimit:
    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits
        self._script: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        state = getattr(scope["app"].state, "parking", None)
        if state is None or client in self.limits.exempt:
            await self.app(scope, receive, send)
            return
        lim = self.limits
        keys = [f"rl:ip:{client}"]
        args: list[float] = [lim.client_rate, lim.client_burst]
        auth = next((v for k, v in scope.get("headers", []) if k == b"authorization"), b"")
        if auth.lower().startswith(b"bearer ") and scope.get("path", "").startswith("/v1/gate"):
            keys.append("rl:lane:" + hashlib.sha256(auth[7:].strip()).hexdigest()[:32])
            args += [lim.lane_rate, lim.lane_burst]
        try:
            if self._script is None:
                self._script = state.redis.register_script(TOKEN_BUCKETS)
            wait = float(await self._script(keys=keys, args=args))
        except (RedisError, OSError) as exc:  # fail open: Redis down must not stop the gate
            log.warning("rate_limit_unavailable", error=str(exc)[:200])
            wait = 0.0
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry = max(1, math.ceil(wait))
        body = orjson.dumps(
            error_body(
                "rate_limited",
                f"Too many requests; retry in {retry} s.",
                {"scope": "lane" if len(keys) == 2 else "client", "retry_after_s": retry},
            )
        )
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# Per-endpoint fixed-window limits (public reads such as /v1/places).


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
