"""Adapter to the e-invoice provider (TCTN) that forwards our signed messages to the tax authority."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


class TransientProviderError(Exception):
    """No final answer (timeout, connection failure, 5xx): the outbox retries with the same MTDiep."""


@dataclass(frozen=True)
class ProviderAnswer:
    accepted: bool
    code: str | None = None
    reason: str | None = None
    duplicate: bool = False


class ProviderClient:
    def __init__(self, base_url: str, timeout_s: float = 5.0, client: httpx.AsyncClient | None = None):
        self._base = base_url.rstrip("/")
        self._timeout = timeout_s
        self._client = client

    async def submit(self, signed_tdiep: bytes) -> ProviderAnswer:
        try:
            if self._client is not None:
                r = await self._post(self._client, signed_tdiep)
            else:
                async with httpx.AsyncClient() as c:
                    r = await self._post(c, signed_tdiep)
        except httpx.TransportError as e:  # includes timeouts
            raise TransientProviderError(f"{type(e).__name__}: {e}") from e
        if r.status_code >= 500 or r.status_code == 429:
            raise TransientProviderError(f"provider answered HTTP {r.status_code}")
        if r.status_code != 200:
            # 4xx on our own protocol means we sent something the provider cannot take: final.
            return ProviderAnswer(False, "http_" + str(r.status_code), r.text[:500])
        body = r.json()
        if body.get("status") == "accepted":
            return ProviderAnswer(True, duplicate=bool(body.get("duplicate")))
        return ProviderAnswer(False, body.get("code"), body.get("reason"))

    async def _post(self, c: httpx.AsyncClient, data: bytes) -> httpx.Response:
        return await c.post(
            f"{self._base}/api/v1/invoices",
            content=data,
            headers={"Content-Type": "application/xml; charset=utf-8"},
            timeout=self._timeout,
        )
