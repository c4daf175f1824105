"""Adapter to the payment provider's HTTP API (charges, refunds, account lookup).

The outcome of a call is one of three: it succeeded, the provider said no, or we do not know
(timeout, 5xx, connection error). "Unknown" is never treated as "no": the same idempotency key is
retried later and the provider answers with what really happened.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from parking.payments.settings import PaymentSettings

Outcome = Literal["succeeded", "declined", "unknown"]


@dataclass(frozen=True, slots=True)
class ProviderResult:
    outcome: Outcome
    provider_txn_id: str | None = None
    code: str | None = None  # decline code or error class
    raw: dict[str, Any] | None = None


# One pooled client per (base URL, event loop): keep-alive matters for exit latency, and an
# httpx client must not be shared across event loops.
_CLIENTS: dict[tuple[str, int], httpx.AsyncClient] = {}


def _client(base_url: str) -> httpx.AsyncClient:
    key = (base_url, id(asyncio.get_running_loop()))
    client = _CLIENTS.get(key)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(base_url=base_url, limits=httpx.Limits(max_keepalive_connections=20))
        _CLIENTS[key] = client
    return client


class ProviderClient:
    def __init__(self, settings: PaymentSettings) -> None:
        self.name = settings.provider_name
        self.base_url = settings.provider_base_url
        self._auth = {"Authorization": f"Bearer {settings.provider_secret}"}

    async def _post(self, path: str, body: dict[str, Any], key: str, timeout_s: float) -> ProviderResult:
        try:
            r = await _client(self.base_url).post(
                path, json=body, headers=self._auth | {"Idempotency-Key": key}, timeout=timeout_s
            )
        except httpx.TimeoutException:
            return ProviderResult("unknown", code="timeout")
        except httpx.HTTPError as exc:
            return ProviderResult("unknown", code=type(exc).__name__)
        if r.status_code >= 500 or r.status_code in (401, 403, 429):
            # Outages, our own misconfigured credentials, rate limits: retry, never "declined".
            return ProviderResult("unknown", code=f"http_{r.status_code}")
        try:
            data = r.json()
        except ValueError:
            return ProviderResult("unknown", code="bad_json")
        if r.status_code in (200, 201) and data.get("status") == "succeeded":
            return ProviderResult("succeeded", provider_txn_id=str(data["id"]), raw=data)
        code = data.get("decline_code") or (data.get("error") or {}).get("code") or f"http_{r.status_code}"
        return ProviderResult("declined", provider_txn_id=data.get("id"), code=str(code), raw=data)

    async def charge(
        self, *, token: str, amount_vnd: int, idempotency_key: str, description: str, timeout_s: float
    ) -> ProviderResult:
        return await self._post(
            "/charges",
            {"token": token, "amount_vnd": amount_vnd, "description": description},
            idempotency_key,
            timeout_s,
        )

    async def refund(
        self,
        *,
        provider_txn_id: str,
        amount_vnd: int,
        reason: str,
        idempotency_key: str,
        timeout_s: float = 10.0,
    ) -> ProviderResult:
        return await self._post(
            "/refunds",
            {"provider_txn_id": provider_txn_id, "amount_vnd": amount_vnd, "reason": reason},
            idempotency_key,
            timeout_s,
        )

    async def account_exists(self, token: str, timeout_s: float = 5.0) -> bool | None:
        """True/False when the provider answers, None when it cannot be reached."""
        try:
            r = await _client(self.base_url).get(f"/accounts/{token}", headers=self._auth, timeout=timeout_s)
        except httpx.HTTPError:
            return None
        if r.status_code >= 500:
            return None
        return r.status_code == 200
