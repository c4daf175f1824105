"""Barrier drivers behind one interface.

- ``HttpRelayBarrier``: the common networked relay boards are switched by one HTTP request
  (e.g. Shelly ``/relay/0?turn=on&timer=3``, KMtronic ``/FF0101``). ``url`` opens; if the board
  does not pulse by itself, ``close_url`` is requested ``open_ms`` later.
- ``SimulatedBarrier``: records every movement (and appends it to ``state_file`` as JSON
  lines) for the tests and the demo lot.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx
import structlog

log = structlog.get_logger("gate_agent.barrier")


class BarrierError(Exception):
    pass


class Barrier(Protocol):
    def open(self, reason: str, event_id: str | None = None) -> None: ...

    @property
    def state(self) -> str: ...

    def close(self) -> None: ...


class SimulatedBarrier:
    def __init__(self, open_ms: int, state_file: str | None = None) -> None:
        self.open_ms = open_ms
        self.state_file = Path(state_file) if state_file else None
        self.history: list[dict[str, object]] = []
        self._state = "closed"
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    @property
    def state(self) -> str:
        return self._state

    def _record(self, state: str, reason: str, event_id: str | None) -> None:
        entry: dict[str, object] = {
            "at": datetime.now(UTC).isoformat(),
            "state": state,
            "reason": reason,
            "event_id": event_id,
        }
        with self._lock:
            # Record first, then publish the state: whoever sees the new state also finds its record.
            self.history.append(entry)
            if self.state_file is not None:
                with self.state_file.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry) + "\n")
            self._state = state

    def open(self, reason: str, event_id: str | None = None) -> None:
        self._record("open", reason, event_id)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(self.open_ms / 1000, self._record, ("closed", "timer", event_id))
        self._timer.daemon = True
        self._timer.start()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class HttpRelayBarrier:
    def __init__(
        self,
        url: str,
        *,
        close_url: str | None = None,
        method: str = "GET",
        open_ms: int = 3000,
        timeout_s: float = 1.0,
    ) -> None:
        self.url = url
        self.close_url = close_url
        self.method = method
        self.open_ms = open_ms
        self._client = httpx.Client(timeout=timeout_s)
        self._state = "closed"
        self._timer: threading.Timer | None = None

    @property
    def state(self) -> str:
        return self._state

    def _call(self, url: str) -> None:
        try:
            r = self._client.request(self.method, url)
            r.raise_for_status()
        except httpx.HTTPError as exc:
            raise BarrierError(f"relay {url} failed: {exc}") from exc

    def open(self, reason: str, event_id: str | None = None) -> None:
        # One quick retry: a relay board on a busy LAN sometimes drops the first request.
        try:
            self._call(self.url)
        except BarrierError:
            time.sleep(0.1)
            self._call(self.url)
        self._state = "open"
        log.info("barrier_open", reason=reason, event_id=event_id)
        if self.close_url:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.open_ms / 1000, self._close)
            self._timer.daemon = True
            self._timer.start()
        else:
            self._timer = threading.Timer(self.open_ms / 1000, self._set_closed)
            self._timer.daemon = True
            self._timer.start()

    def _set_closed(self) -> None:
        self._state = "closed"

    def _close(self) -> None:
        try:
            assert self.close_url is not None
            self._call(self.close_url)
            self._state = "closed"
        except BarrierError as exc:
            log.error("barrier_close_failed", error=str(exc))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._client.close()
