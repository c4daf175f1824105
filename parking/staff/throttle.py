"""Login throttling: failed attempts counted in Redis per e-mail address and per client address.

A fixed window (SET NX EX, then INCR) is enough here: it bounds online guessing to a few attempts per window per
account, and a locked account unlocks by itself when the window ends.
"""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis

from parking.kit.errors import AppError


def _keys(email: str, ip: str) -> tuple[str, str]:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"staff:login:fail:email:{digest}", f"staff:login:fail:ip:{ip}"


async def check(redis: Redis, email: str, ip: str, *, max_email: int, max_ip: int) -> None:
    k_email, k_ip = _keys(email, ip)
    n_email, n_ip = await redis.mget(k_email, k_ip)
    if int(n_email or 0) >= max_email or int(n_ip or 0) >= max_ip:
        ttl = max(await redis.ttl(k_email), await redis.ttl(k_ip), 1)
        raise AppError(
            "too_many_attempts",
            "Too many failed logins; try again later.",
            429,
            {"retry_after_s": ttl},
        )


async def failed(redis: Redis, email: str, ip: str, window_s: int) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        for key in _keys(email, ip):
            pipe.set(key, 0, ex=window_s, nx=True)  # the window starts at the first failure
            pipe.incr(key)
        await pipe.execute()


async def succeeded(redis: Redis, email: str, ip: str) -> None:
    await redis.delete(_keys(email, ip)[0])
