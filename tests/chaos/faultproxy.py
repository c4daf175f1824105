"""A small TCP fault proxy on loopback (asyncio, in its own thread): put it between a client and a real
server (PostgreSQL, Redis, the API) and break the link on purpose.

Modes (``set_mode``), applied to the bytes as they flow, existing connections included:
- ``pass``: forward both ways (optionally ``delay_s`` per chunk: a slow link);
- ``refuse``: close every connection and refuse new ones (the server is down);
- ``blackhole``: accept and keep connections but forward nothing either way (a cable pulled, a dead NAT);
- ``drop_answer``: forward the request to the server but never the answer; the client's connection is then
  reset (the server acted, the client never heard: "answer lost after commit").

Hand-written (~100 lines) because the tools that do this (toxiproxy, tc netem) are separate daemons or need
root; this one is under the tests' control, deterministic, and runs anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


@dataclass
class ProxyStats:
    connections: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    dropped_answers: int = 0


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, listen_port: int = 0, unix_path: str | None = None) -> None:
        self.target = (target_host, target_port)
        self.unix_path = unix_path  # the embedded PostgreSQL listens on a unix socket only
        self.port = listen_port or _free_port()
        self.mode = "pass"
        self.delay_s = 0.0
        self.stats = ProxyStats()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name=f"faultproxy:{self.port}")
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing: asyncio.Event | None = None  # cleared while blackholed

    # -- control (thread-safe) ---------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def set_mode(self, mode: str, delay_s: float = 0.0) -> None:
        assert mode in ("pass", "refuse", "blackhole", "drop_answer"), mode
        self.mode, self.delay_s = mode, delay_s
        if self._flowing is not None:
            flowing = self._flowing
            self._loop.call_soon_threadsafe(flowing.clear if mode == "blackhole" else flowing.set)
        if mode == "refuse":
            self.cut()

    def cut(self) -> None:
        """Reset every open connection now (the server side of a kill -9, as the client sees it)."""
        asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result(10)

    @property
    def url_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- inside the loop ----------------------------------------------------------------------

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port, reuse_address=True)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut()

    async def _cut(self) -> None:
        for w in list(self._writers):
            _abort(w)
        self._writers.clear()

    async def _client(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        if self.mode == "refuse":
            _abort(cw)
            return
        self.stats.connections += 1
        try:
            if self.unix_path:
                ur, uw = await asyncio.open_unix_connection(self.unix_path)
            else:
                ur, uw = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(cw)
            return
        self._writers.update((cw, uw))
        up = asyncio.create_task(self._pump(cr, uw, up=True, peer=cw))
        down = asyncio.create_task(self._pump(ur, cw, up=False, peer=cw))
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for t in (up, down):
            t.cancel()
        for w in (cw, uw):
            self._writers.discard(w)
            _abort(w)

    async def _pump(
        self, r: asyncio.StreamReader, w: asyncio.StreamWriter, *, up: bool, peer: asyncio.StreamWriter
    ) -> None:
        while True:
            data = await r.read(65536)
            if not data:
                return
            assert self._flowing is not None
            await self._flowing.wait()
            if self.mode == "refuse":
                return
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if not up and self.mode == "drop_answer":
                self.stats.dropped_answers += 1
                _abort(peer)  # the client never hears the answer; the server has acted
                return
            if up:
                self.stats.bytes_up += len(data)
            else:
                self.stats.bytes_down += len(data)
            w.write(data)
            await w.drain()


def _abort(w: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        w.transport.abort()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proxied_url(url: str) -> tuple[FaultProxy, str]:
    """A started proxy in front of the server of a PostgreSQL or Redis URL, and the URL through it."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    sock_dir = query.pop("host", None)
    if sock_dir:  # postgresql+asyncpg://user@/db?host=/socket/dir
        port = parts.port or 5432
        proxy = FaultProxy("", 0, unix_path=f"{sock_dir}/.s.PGSQL.{port}").start()
    else:
        proxy = FaultProxy(parts.hostname or "127.0.0.1", int(parts.port or 0)).start()
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return proxy, urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}", query=urlencode(query)))
