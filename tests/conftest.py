"""Shared fixtures: real embedded PostgreSQL and Redis, the schema built by running the migrations,
and the API served by a real uvicorn on a loopback port.

With PARKING_TEST_DATABASE_URL / PARKING_TEST_REDIS_URL set, those servers are used instead (a fresh
database is created on the PostgreSQL server for the run).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from parking.kit.db import make_engine, make_sessionmaker
from parking.kit.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from parking.settings import REPO_ROOT, Settings
from tests.factories import LotHandle, make_lot

# Operator certificates the tests mint (e-invoice signing) live in a throw-away folder, never in the checkout.
os.environ.setdefault("PARKING_INVOICE_CERT_DIR", tempfile.mkdtemp(prefix="parking-test-certs-"))
# Test mode: the fixed development secrets, which the tests' simulators share (production refuses them).
os.environ.setdefault("PARKING_MODE", "test")


def _run_migrations(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(REPO_ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, "head")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres | None]:
    if os.environ.get("PARKING_TEST_DATABASE_URL"):
        yield None
        return
    # Not under pytest's tmp dir: that is mode 0700 for root, and the embedded server runs as its own user.
    base = Path(tempfile.mkdtemp(prefix="parking-test-pg-"))
    base.chmod(0o755)
    pg = EmbeddedPostgres(base / "data")
    pg.start()
    yield pg
    pg.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def db_url(pg_server: EmbeddedPostgres | None) -> str:
    name = f"parking_test_{os.getpid()}"
    if pg_server is None:
        base = os.environ["PARKING_TEST_DATABASE_URL"]

        async def create() -> None:
            eng = create_async_engine(base, isolation_level="AUTOCOMMIT")
            async with eng.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
            await eng.dispose()

        asyncio.run(create())
        url = base.rsplit("/", 1)[0] + f"/{name}"
    else:
        pg_server.psql(f'CREATE DATABASE "{name}";')
        # Test data is disposable: skip the fsync wait on commit (the code paths are unchanged).
        pg_server.psql(f'ALTER DATABASE "{name}" SET synchronous_commit = off;')
        url = pg_server.url(name)
    _run_migrations(url)
    return url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("PARKING_TEST_REDIS_URL"):
        yield os.environ["PARKING_TEST_REDIS_URL"]
        return
    rd = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield rd.start()
    rd.stop()


@pytest.fixture(scope="session")
def settings(db_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    port = free_port()
    return Settings(
        mode="test",
        database_url=db_url,
        redis_url=redis_url,
        port=port,
        public_base_url=f"http://127.0.0.1:{port}",
        data_dir=tmp_path_factory.mktemp("data"),
        occupancy_repair_interval_s=3600,
        db_pool_size=10,
        log_level="WARNING",
        # The invoice and outbox tests drive those topics themselves (their own provider simulator and
        # certificate, their own retry timing); the shared API server's worker must not race them.
        outbox_exclude_topics=["invoice.transmit", "test.ok", "test.flaky"],
    )


@pytest.fixture(scope="session")
async def sessionmaker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(db_url, 10)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def db(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session
        await session.rollback()


class LiveServer:
    def __init__(self, settings: Settings) -> None:
        from parking.app import create_app

        self.settings = settings
        self.app = create_app(settings)
        self.url = f"http://127.0.0.1:{settings.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=settings.port, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.server.started:
                return
            if not self.thread.is_alive():
                raise RuntimeError("the API server failed to start")
            time.sleep(0.05)
        raise RuntimeError("the API server did not start within 30 s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="session")
def live_server(settings: Settings) -> Iterator[LiveServer]:
    srv = LiveServer(settings)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
async def client(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as c:
        yield c


@pytest.fixture
async def lot(sessionmaker: async_sessionmaker[AsyncSession]) -> LotHandle:
    """A fresh car lot (capacity 5 small cars) with an entry and an exit lane, unique to the test."""
    return await make_lot(sessionmaker, capacities={"car_small": 5, "car_large": 1})


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8].upper()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
