"""The SSE relay: first event, then each published message; Redis down makes the stream say so, not fail."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from redis.asyncio import Redis

from parking.kit import sse
from parking.kit.embedded import free_port


def _request(disconnect_after: int) -> Request:
    calls = {"n": 0}

    async def receive() -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] > disconnect_after:
            return {"type": "http.disconnect"}
        await asyncio.sleep(0.01)
        return {"type": "http.request", "body": b"", "more_body": True}

    return Request({"type": "http", "method": "GET", "path": "/", "headers": []}, receive)


async def _take(it: Any, n: int) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    async with asyncio.timeout(10):
        async for item in it:
            out.append(item)
            if len(out) == n:
                break
    return out


async def test_relay_sends_first_event_then_published_messages(redis_url: str) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    resp = sse.relay(_request(10_000), redis, ["test:sse"], event="change", first=("snapshot", "{}"))
    it = resp.body_iterator
    got = await _take(it, 1)
    assert got == [{"event": "snapshot", "data": "{}"}]

    async def publish_soon() -> None:
        for _ in range(50):  # until the relay has subscribed
            if await redis.publish("test:sse", '{"n": 1}'):
                return
            await asyncio.sleep(0.05)

    task = asyncio.create_task(publish_soon())
    got = await _take(it, 1)
    await task
    assert got == [{"event": "change", "data": '{"n": 1}'}]
    await it.aclose()  # type: ignore[attr-defined]
    await redis.aclose()


async def test_relay_reports_redis_unavailable_instead_of_failing() -> None:
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", decode_responses=True)  # nothing listens there
    resp = sse.relay(_request(10_000), dead, ["test:sse"], event="change", first=("hello", "{}"))
    got = await _take(resp.body_iterator, 2)
    assert got[0] == {"event": "hello", "data": "{}"}
    assert got[1]["event"] == "unavailable"
    await resp.body_iterator.aclose()  # type: ignore[attr-defined]
    await dead.aclose()
