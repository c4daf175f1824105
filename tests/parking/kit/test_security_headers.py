"""Issue 13.6: security headers on every answer (HSTS only over TLS), and the API docs served from vendored
assets with no CDN and no inline script."""

from __future__ import annotations

import re

import httpx

from tests.conftest import LiveServer


async def test_every_answer_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for path in ("/health", "/v1/lots", "/no-such-page", "/docs"):
        r = await client.get(path)
        csp = r.headers["content-security-policy"]
        assert (
            "frame-ancestors 'none'" in csp
            and "script-src 'self'" in csp
            and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        ), path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in r.headers  # plain HTTP on loopback: no HSTS


def test_hsts_when_the_request_came_over_tls(live_server: LiveServer) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (a TLS-terminating proxy on the same host).
    r = httpx.get(f"{live_server.url}/health", headers={"X-Forwarded-Proto": "https"})
    assert r.headers["strict-transport-security"].startswith("max-age=")


async def test_the_docs_load_only_local_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    srcs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert srcs and all(s.startswith("/") for s in srcs), srcs  # nothing from a CDN
    assert "<script>" not in page.text  # no inline script: the CSP allows none
    for src in srcs:
        r = await client.get(src)
        assert r.status_code == 200 and len(r.content) > 0, src
    init = await client.get("/docs/init.js")
    assert "SwaggerUIBundle" in init.text and "/openapi.json" in init.text
    assert (await client.get("/redoc")).status_code == 404
