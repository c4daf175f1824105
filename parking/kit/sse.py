"""The one server-sent-events relay: a Redis pub/sub channel to an HTTP event stream.

Every live page and lane command stream goes through here, so they share the same behaviour: a first event
(a snapshot or a hello), then each message; a ping every 15 s keeps proxies from closing the stream; when Redis
is unreachable the stream says so (``unavailable``) and resubscribes, instead of failing the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from fastapi import Request
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sse_starlette.sse import EventSourceResponse

log = structlog.get_logger(__name__)

RETRY_AFTER_S = 2.0


def relay(
    request: Request,
    redis: Redis,
    channels: list[str],
    *,
    event: str,
    first: tuple[str, str] | None = None,
) -> EventSourceResponse:
    """Stream every message published on ``channels`` as an SSE event named ``event``.

    ``first`` is ``(event_name, data)`` sent before anything else (a snapshot the page starts from).
    """

    async def stream() -> AsyncIterator[dict[str, str]]:
        if first is not None:
            yield {"event": first[0], "data": first[1]}
        while not await request.is_disconnected():
            pubsub = redis.pubsub()
            try:
                await pubsub.subscribe(*channels)
                while not await request.is_disconnected():
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is not None:
                        yield {"event": event, "data": str(msg["data"])}
                    else:
                        await asyncio.sleep(0)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                # Redis down degrades the live view, never the request: say so and try again shortly.
                log.warning("sse.redis_unavailable", channels=channels, error=type(exc).__name__)
                yield {"event": "unavailable", "data": '{"retry_after_s": 2}'}
                await asyncio.sleep(RETRY_AFTER_S)
            finally:
                try:
                    await pubsub.unsubscribe()
                    await pubsub.aclose()
                except (RedisConnectionError, RedisTimeoutError, OSError):
                    pass

    return EventSourceResponse(stream(), ping=15)
