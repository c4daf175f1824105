"""Issue 13.5: every failure answers in the one JSON error shape with a code. PostgreSQL or Redis out of reach
is ``503 service_unavailable`` with ``Retry-After``; input the database cannot store (a NUL byte, a lone
surrogate) is ``422``; anything else unexpected is a JSON ``500 internal_error``, never plain text."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from parking.settings import Settings
from tests.chaos.faultproxy import proxied_url
from tests.conftest import LiveServer
from tests.factories import LotHandle, event
from tests.parking.gate.test_bad_input import _assert_error

pytestmark = pytest.mark.timeout(120)


class Faulty:
    def __init__(self, settings: Settings) -> None:
        self.pg, pg_url = proxied_url(str(settings.database_url))
        self.redis, redis_url = proxied_url(str(settings.redis_url))
        from parking.kit.embedded import free_port

        port = free_port()
        self.settings = settings.model_copy(
            update={
                "database_url": pg_url,
                "redis_url": redis_url,
                "port": port,
                "public_base_url": f"http://127.0.0.1:{port}",
                "run_background": False,
                "db_connect_timeout_s": 2.0,
                "db_command_timeout_s": 3.0,
                "redis_timeout_s": 2.0,
            }
        )
        self.server = LiveServer(self.settings)

    def stop(self) -> None:
        self.server.stop()
        self.pg.stop()
        self.redis.stop()


@pytest.fixture(scope="module")
def faulty(settings: Settings) -> Iterator[Faulty]:
    f = Faulty(settings)
    f.server.start()
    yield f
    f.stop()


def _post(f: Faulty, lot: LotHandle, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{f.server.url}/v1/gate/events", json=body, headers=lot.entry.headers, timeout=30)


def _unavailable(r: httpx.Response) -> None:
    _assert_error(r, 503, "service_unavailable")
    assert int(r.headers["Retry-After"]) > 0


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_postgresql_out_of_reach_is_a_json_503_with_retry_after(faulty: Faulty, lot: LotHandle, mode: str) -> None:
    assert _post(faulty, lot, event("entry", "30A-200.01")).status_code == 200  # the pool holds connections
    faulty.pg.set_mode(mode)
    try:
        for plate in ("30A-200.02", "30A-200.03"):
            _unavailable(_post(faulty, lot, event("entry", plate)))
        _unavailable(httpx.get(f"{faulty.server.url}/v1/lots", timeout=30))
    finally:
        faulty.pg.set_mode("pass")
    deadline = time.monotonic() + 20
    while (r := _post(faulty, lot, event("entry", "30A-200.04"))).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert r.status_code == 200, r.text  # back by itself when the database is


def test_a_nul_byte_anywhere_in_a_body_or_query_is_a_json_422(faulty: Faulty, lot: LotHandle) -> None:
    for plate in ("30A-123.4\x005", "\x00"):
        err = _assert_error(_post(faulty, lot, event("entry", plate)), 422, "invalid_request")
        assert "NUL" in err["message"] or "cannot be stored" in err["message"]
    hb = httpx.post(
        f"{faulty.server.url}/v1/gate/heartbeat",
        json={"camera_error": "usb\x00reset", "last_read": {"plate": "x\x00"}},
        headers=lot.entry.headers,
        timeout=30,
    )
    _assert_error(hb, 422, "invalid_request")
    q = httpx.get(f"{faulty.server.url}/v1/lots", params={"near": "a\x00b"}, timeout=30)
    _assert_error(q, 422, "invalid_request")
    ev = event("entry", "PLATE")
    lone = json.dumps(ev).replace("PLATE", "30A-1\\ud800")
    r = httpx.post(
        f"{faulty.server.url}/v1/gate/events",
        content=lone.encode(),
        headers={**lot.entry.headers, "Content-Type": "application/json"},
        timeout=30,
    )
    _assert_error(r, 422, "invalid_request")


def test_an_unexpected_exception_is_a_json_500(faulty: Faulty) -> None:
    async def boom() -> None:
        raise RuntimeError("a bug")

    faulty.server.app.add_api_route("/v1/test-only/boom", boom)
    r = httpx.get(f"{faulty.server.url}/v1/test-only/boom", timeout=30)
    err = _assert_error(r, 500, "internal_error")
    assert "a bug" not in err["message"]  # no internals leak to the client


def test_redis_out_of_reach_is_a_json_503_where_redis_is_needed(faulty: Faulty) -> None:
    faulty.redis.set_mode("refuse")
    try:
        r = httpx.get(f"{faulty.server.url}/v1/lots", timeout=30)
        assert r.status_code in (200, 503), r.text
        if r.status_code == 503:
            _unavailable(r)
        else:
            assert r.json()  # served from PostgreSQL alone
    finally:
        faulty.redis.set_mode("pass")


def test_the_api_starts_while_postgresql_is_down_and_serves_once_it_is_back(settings: Settings) -> None:
    """A restart during an outage (a service manager restarting a crashed worker) must not crash-loop: the
    warm-up is best effort, the API answers 503 until the database is back, then serves."""
    f = Faulty(settings)
    f.settings = f.settings.model_copy(update={"run_background": True})
    f.server = LiveServer(f.settings)
    f.pg.set_mode("refuse")
    try:
        f.server.start()
        r = httpx.get(f"{f.server.url}/v1/lots", timeout=30)
        _unavailable(r)
        f.pg.set_mode("pass")
        deadline = time.monotonic() + 20
        while (
            r := httpx.get(f"{f.server.url}/v1/lots", timeout=30)
        ).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert r.status_code == 200, r.text
    finally:
        f.stop()
