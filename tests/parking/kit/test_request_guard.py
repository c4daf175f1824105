"""Issue 13.3/13.5: request bodies are size-limited before parsing (declared and streamed), per path prefix;
strings the database cannot store are refused for every route by one guard."""

from __future__ import annotations

import asyncio
import json

import httpx
from hypothesis import given
from hypothesis import strategies as st

from parking.kit.guard import bad_value
from tests.conftest import LiveServer
from tests.factories import LotHandle, event
from tests.parking.gate.test_bad_input import _assert_error


async def test_a_declared_body_over_the_limit_is_refused_unread(client: httpx.AsyncClient, lot: LotHandle) -> None:
    body = event("entry", "30A-123.45", image_jpeg_b64="A" * (2 * 1024 * 1024))
    err = _assert_error(
        await client.post("/v1/gate/events", json=body, headers=lot.entry.headers), 413, "payload_too_large"
    )
    assert err["details"]["max_bytes"] == 1024 * 1024


async def test_a_streamed_body_is_cut_off_at_the_limit(live_server: LiveServer, lot: LotHandle) -> None:
    """A chunked body (no Content-Length) is counted as it arrives: refused once past the limit, without
    waiting for (or reading) the rest; the client gets the JSON 413 on a raw socket."""
    host, port = "127.0.0.1", live_server.settings.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        (
            f"POST /v1/gate/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {lot.entry.token}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
    )
    chunk = b"A" * 65536
    sent = 0
    try:
        for _ in range(64):  # up to 4 MiB; the limit is 1 MiB
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
            sent += 1
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    except (ConnectionError, OSError):
        pass
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
    body = await asyncio.wait_for(reader.readexactly(length), timeout=30)
    writer.close()
    assert json.loads(body)["error"]["code"] == "payload_too_large"


async def test_notifications_have_a_smaller_limit(client: httpx.AsyncClient) -> None:
    big = json.dumps({"id": 1, "content": "x" * (100 * 1024)})
    r = await client.post("/v1/payments/notify/sepay", content=big, headers={"Content-Type": "application/json"})
    err = _assert_error(r, 413, "payload_too_large")
    assert err["details"]["max_bytes"] == 64 * 1024


async def test_an_ordinary_body_with_unicode_escapes_passes(client: httpx.AsyncClient, lot: LotHandle) -> None:
    raw = json.dumps(event("entry", "30A-321.45"), ensure_ascii=True).replace("30A", "\\u0033\\u0030A")
    r = await client.post(
        "/v1/gate/events", content=raw, headers={**lot.entry.headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_bad_value_is_exactly_a_string_postgres_cannot_store(v: object) -> None:
    def storable(x: object) -> bool:
        if isinstance(x, str):
            try:
                x.encode("utf-8")
            except UnicodeEncodeError:
                return False
            return "\x00" not in x
        if isinstance(x, dict):
            return all(storable(k) and storable(val) for k, val in x.items())
        if isinstance(x, list):
            return all(storable(i) for i in x)
        return True

    assert bad_value(v) is (not storable(v))
    assert bad_value({"deep": [[{"k": v}]]}) is (not storable(v))
