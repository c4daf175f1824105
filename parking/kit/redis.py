"""Redis client factory (redis-py asyncio)."""

from __future__ import annotations

from redis.asyncio import Redis


def make_redis(url: str, timeout_s: float = 5.0) -> Redis:
    # Bounded waits: Redis out of reach degrades what needs it within seconds instead of hanging requests.
    return Redis.from_url(
        url,
        decode_responses=True,
        health_check_interval=30,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
    )
