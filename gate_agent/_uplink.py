"""HTTP client for the server's gate API (httpx). The event_id minted on the device is the
idempotency key: a resend of the same event gets the same answer (``replayed: true``)."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from typing import Any

import httpx

AGENT_VERSION = "0.1.0"


class Retryable(Exception):
    """Connection error, timeout, 5xx, 408/429, and 401/403 (see ``classify``).

    ``link_down``: no usable answer from the platform at all (connection error, timeout, 502/503/504, a
    credential or rate refusal that holds for every event): the lane decides locally until the link is back.
    A 500 about one event is retried later but says nothing about the link: the lane stays online."""

    def __init__(self, message: str, link_down: bool = True) -> None:
        super().__init__(message)
        self.link_down = link_down


class Rejected(Exception):
    """A 4xx about this event itself: retrying cannot help; kept in the queue as rejected."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def backoff_s(attempts: int, base_s: float = 0.5, max_s: float = 60.0) -> float:
    """Capped exponential backoff with "equal jitter" (half fixed, half random) so a lot
    full of lanes coming back online does not hammer the server in lockstep."""
    d = min(max_s, base_s * (2 ** min(attempts, 30)))
    return d / 2 + random.uniform(0, d / 2)


def _error(r: httpx.Response) -> tuple[str, str]:
    try:
        e = r.json().get("error", {})
        return str(e.get("code", "http_error")), str(e.get("message", r.text[:200]))
    except (ValueError, AttributeError):
        return "http_error", r.text[:200]


def classify(r: httpx.Response) -> None:
    if r.is_success:
        return
    code, message = _error(r)
    # 401/403 are about the lane's credential, not the event: a rotated token must not turn
    # a day of queued events into rejects, so they wait for the fix instead. Every other 4xx (409
    # event_id_conflict included) is a permanent refusal of this event: retrying cannot change it.
    if r.status_code in (401, 403, 408, 429) or r.status_code >= 500 or r.status_code < 400:
        link_down = r.status_code != 500
        raise Retryable(f"{r.status_code} {code}: {message}", link_down=link_down)
    raise Rejected(r.status_code, code, message)


class Uplink:
    def __init__(self, server_url: str, token: str, timeout_s: float = 5.0) -> None:
        self.base = server_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "User-Agent": f"gate-agent/{AGENT_VERSION}"}
        self._client = httpx.Client(base_url=self.base, headers=self._headers, timeout=timeout_s)
        self._stream: httpx.Response | None = None

    def close(self) -> None:
        self.abort_stream()
        self._client.close()

    def abort_stream(self) -> None:
        """Unblocks the commands reader at shutdown (it may sit in a read for a minute)."""
        r, self._stream = self._stream, None
        if r is not None:
            try:
                r.close()
            except Exception:  # closing a stream another thread reads: best effort
                pass

    def _request(self, method: str, path: str, *, timeout: float | None = None, **kw: Any) -> Any:
        try:
            r = self._client.request(
                method, path, timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT, **kw
            )
        except httpx.HTTPError as exc:  # connect/read errors, timeouts
            raise Retryable(f"{type(exc).__name__}: {exc}") from exc
        classify(r)
        try:
            return r.json()
        except ValueError as exc:
            raise Retryable(f"{r.status_code}: response is not JSON") from exc

    def post_event(self, body: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        return dict(self._request("POST", "/v1/gate/events", json=body, timeout=timeout))

    def post_outcome(self, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._request("POST", f"/v1/gate/events/{event_id}/outcome", json=body))

    def heartbeat(self, payload: dict[str, Any]) -> dict[str, Any]:
        return dict(self._request("POST", "/v1/gate/heartbeat", json=payload))

    def get_cache(self) -> dict[str, Any]:
        return dict(self._request("GET", "/v1/gate/cache"))

    def get_session(self, session_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/gate/sessions/{session_id}"))

    def left_unpaid(self, session_id: str) -> dict[str, Any]:
        return dict(self._request("POST", f"/v1/gate/sessions/{session_id}/left-unpaid"))

    def commands(self, stop: threading.Event) -> Iterator[dict[str, Any]]:
        """Server-sent events from ``/v1/gate/commands``. The SSE framing is parsed by hand:
        we only need ``data:`` lines, and it saves a dependency on the lane device."""
        timeout = httpx.Timeout(5.0, read=60.0)
        with self._client.stream("GET", "/v1/gate/commands", timeout=timeout) as r:
            self._stream = r
            classify(r)
            data: list[str] = []
            for line in r.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif line == "" and data:
                    try:
                        msg = json.loads("\n".join(data))
                    except ValueError:
                        msg = None
                    data = []
                    if isinstance(msg, dict):
                        yield msg
