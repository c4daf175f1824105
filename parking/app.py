"""The FastAPI application: routers, error shape, metrics, and the background loops of one instance."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

import parking.console.alerts
import parking.invoices.tasks  # noqa: F401  (registers the invoice outbox handlers)
from parking.console.alerts import evaluate as evaluate_alerts
from parking.console.endpoints import install as install_console
from parking.drivers.endpoints import router as drivers_router
from parking.gate.endpoints import router as gate_router
from parking.health.endpoints import router as health_router
from parking.invoices.endpoints import router as invoices_router
from parking.kit import outbox
from parking.kit.db import make_engine, make_sessionmaker, transaction
from parking.kit.deps import AppState
from parking.kit.errors import AppError, install_error_handlers
from parking.kit.logging import configure_logging
from parking.kit.metrics import MetricsMiddleware, metrics_response
from parking.kit.redis import make_redis
from parking.lanes.auth import LaneCache
from parking.lots.endpoints import router as lots_router
from parking.occupancy.service import repair
from parking.payments.demo import expire_unpaid_qrs
from parking.payments.endpoints import router as payments_router
from parking.quotes.endpoints import router as quotes_router
from parking.sessions.fees import load_book
from parking.settings import Settings, get_settings
from parking.staff import secrets as staff_secrets
from parking.staff.deps import authenticate, bearer
from parking.staff.endpoints import router as staff_router

log = structlog.get_logger("parking.app")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError(
            "create_app needs PARKING_DATABASE_URL and PARKING_REDIS_URL; `parking run`/`parking serve` start "
            "embedded servers and set them for you"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_json)
        engine = make_engine(str(settings.database_url), settings.db_pool_size)
        sm = make_sessionmaker(engine)
        redis = make_redis(str(settings.redis_url))
        state = AppState(settings, engine, sm, redis, LaneCache(), load_book(settings.config_dir))
        app.state.parking = state
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        scheduler = AsyncIOScheduler(timezone="UTC")
        if settings.run_background:
            ctx = outbox.OutboxContext(
                sm, redis, {"settings": settings, "state": state}, tuple(settings.outbox_exclude_topics)
            )
            tasks.append(asyncio.create_task(outbox.run_worker(ctx, settings.outbox_poll_interval_s, stop)))

            async def repair_job() -> None:
                async with transaction(sm) as db:
                    await repair(db, redis)

            await repair_job()  # warm the Redis mirror at start
            scheduler.add_job(
                expire_unpaid_qrs,
                "interval",
                args=[sm],
                seconds=60,
                id="qr-expiry",
                max_instances=1,
                coalesce=True,
            )
            scheduler.add_job(
                repair_job,
                "interval",
                seconds=settings.occupancy_repair_interval_s,
                id="occupancy-repair",
                max_instances=1,
                coalesce=True,
            )

            async def alerts_job() -> None:
                async with transaction(sm) as db:
                    await evaluate_alerts(db, redis, settings, datetime.now(UTC))

            scheduler.add_job(
                alerts_job,
                "interval",
                seconds=settings.alert_interval_s,
                id="console-alerts",
                max_instances=1,
                coalesce=True,
            )
            scheduler.start()
        log.info("parking.started", outbox_topics=outbox.registered_topics())
        try:
            yield
        finally:
            stop.set()
            if scheduler.running:
                scheduler.shutdown(wait=False)
            for t in tasks:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            await redis.aclose()
            await engine.dispose()

    secrets = staff_secrets.resolve(settings)  # fails fast outside demo/test mode when a secret is missing

    app = FastAPI(
        title="Parking platform",
        version="0.1.0",
        description="Cashless parking for Vietnamese cities: no cash, no stop, always a receipt.",
        lifespan=lifespan,
    )
    app.state.staff_secrets = secrets
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware)
    for router in (
        health_router,
        gate_router,
        lots_router,
        quotes_router,
        payments_router,
        drivers_router,
        invoices_router,
        staff_router,
    ):
        app.include_router(router)

    install_console(app)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        # A scraper sends the metrics token; a logged-in staff member may look too. Nothing else.
        token = bearer(request)
        if token is not None and hmac.compare_digest(token.encode(), secrets.metrics_token.encode()):
            return metrics_response()
        state = request.app.state.parking
        async with state.sessionmaker() as db:
            staff = await authenticate(request, db, state)
            await db.rollback()
        if staff is None:
            raise AppError("unauthorized", "Send the metrics token (Authorization: Bearer ...) or log in.", 401)
        return metrics_response()

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console")

    return app
