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
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

import parking.console.alerts
import parking.invoices.tasks
from parking.city import service as city
from parking.city.endpoints import operator_router as city_operator_router
from parking.city.endpoints import router as city_router
from parking.console.alerts import evaluate as evaluate_alerts
from parking.console.endpoints import install as install_console
from parking.disputes.endpoints import operator_router as disputes_operator_router
from parking.disputes.endpoints import router as disputes_router
from parking.drivers.endpoints import operator_router as drivers_operator_router
from parking.drivers.endpoints import router as drivers_router
from parking.drivers.endpoints import sessions_router as fee_proof_router
from parking.gate.endpoints import router as gate_router
from parking.gate.outcome_endpoints import router as gate_outcome_router
from parking.health.endpoints import router as health_router
from parking.invoices.endpoints import router as invoices_router
from parking.kit import outbox, partitions
from parking.kit.db import make_engine, make_sessionmaker, transaction
from parking.kit.deps import AppState
from parking.kit.docs import install_docs
from parking.kit.errors import AppError, install_error_handlers
from parking.kit.guard import RequestGuard
from parking.kit.leader import release as release_leadership
from parking.kit.leader import wait_for_leadership
from parking.kit.logging import configure_logging
from parking.kit.metrics import MetricsMiddleware, metrics_response
from parking.kit.ratelimit import Limits, RateLimit
from parking.kit.redis import make_redis
from parking.kit.security import SecurityHeaders
from parking.lanes.auth import LaneCache
from parking.lanes.endpoints import router as lanes_router
from parking.lots.endpoints import router as lots_router
from parking.mobile.pages import router as driver_pages_router
from parking.occupancy.endpoints import router as occupancy_router
from parking.occupancy.service import repair
from parking.payments.endpoints import router as payments_router
from parking.payments.jobs import expire_unpaid_qrs
from parking.places.endpoints import operator_router as places_operator_router
from parking.places.endpoints import router as places_router
from parking.quotes.endpoints import router as quotes_router
from parking.secret_settings import enforce as enforce_secrets
from parking.sessions.fees import load_book
from parking.settings import Settings, get_settings
from parking.staff import secrets as staff_secrets
from parking.staff.deps import authenticate, bearer
from parking.staff.endpoints import router as staff_router
from parking.vocabulary import VN_TZ
from reconciliation.endpoints import console_router as reconciliation_console_router
from reconciliation.endpoints import router as reconciliation_router
from reconciliation.scheduler import install as install_reconciliation

log = structlog.get_logger("parking.app")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError(
            "create_app needs PARKING_DATABASE_URL and PARKING_REDIS_URL; `parking run`/`parking serve` start "
            "embedded servers and set them for you"
        )
    # Outside demo/test mode, a default, empty or weak secret stops the start here (demo: generated ones).
    enforce_secrets(settings.mode, settings.data_dir, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_json)
        engine = make_engine(
            str(settings.database_url),
            settings.db_pool_size,
            settings.db_connect_timeout_s,
            settings.db_command_timeout_s,
        )
        sm = make_sessionmaker(engine)
        redis = make_redis(str(settings.redis_url), settings.redis_timeout_s)
        state = AppState(settings, engine, sm, redis, LaneCache(), load_book(settings.config_dir))
        app.state.parking = state
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        scheduler = AsyncIOScheduler(timezone="UTC")
        leader_conn: list[AsyncConnection] = []

        async def start_background() -> None:
            ctx = outbox.OutboxContext(
                sm, redis, {"settings": settings, "state": state}, tuple(settings.outbox_exclude_topics)
            )
            tasks.append(asyncio.create_task(outbox.run_worker(ctx, settings.outbox_poll_interval_s, stop)))

            async def repair_job() -> None:
                async with transaction(sm) as db:
                    await repair(db, redis)

            try:
                await repair_job()  # warm the Redis mirror at start
            except Exception as exc:  # best effort: the scheduled repair runs again
                # A restart during a PostgreSQL/Redis outage must not crash-loop: the API starts, answers 503
                # until its dependencies are back, and the interval job re-warms the mirror.
                log.warning("warmup_repair_failed", error=f"{type(exc).__name__}: {exc}"[:300])
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
                parking.invoices.tasks.requeue_stranded_job,
                "interval",
                args=[sm],
                seconds=300,
                id="invoice-requeue-stranded",
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

            async def city_availability_job() -> None:
                async with transaction(sm) as db:
                    sent = await city.availability_changes(db, redis)
                await city.mark_sent(redis, sent)

            scheduler.add_job(
                city_availability_job,
                "interval",
                seconds=settings.city_availability_interval_s,
                id="city-availability",
                max_instances=1,
                coalesce=True,
            )
            install_reconciliation(scheduler, sm)

            async def alerts_job() -> None:
                async with transaction(sm) as db:
                    await evaluate_alerts(db, redis, settings, datetime.now(UTC))

            async def partitions_job() -> None:
                async with transaction(sm) as db:
                    await partitions.maintain(
                        db,
                        datetime.now(VN_TZ).date(),
                        settings.partition_months_ahead,
                        settings.partition_retention,
                    )

            scheduler.add_job(
                partitions_job,
                "interval",
                seconds=settings.partition_job_interval_s,
                id="partitions",
                next_run_time=datetime.now(UTC),  # at start too: a leader taking over creates what is missing
                max_instances=1,
                coalesce=True,
            )
            scheduler.add_job(
                alerts_job,
                "interval",
                seconds=settings.alert_interval_s,
                id="console-alerts",
                max_instances=1,
                coalesce=True,
            )
            scheduler.start()

        async def lead_then_start() -> None:
            conn = await wait_for_leadership(engine, stop)
            if conn is not None:
                leader_conn.append(conn)
                await start_background()

        if settings.run_background and settings.jobs_single_leader:
            tasks.append(asyncio.create_task(lead_then_start()))  # standby instances serve HTTP meanwhile
        elif settings.run_background:
            await start_background()
        log.info("parking.started", outbox_topics=outbox.registered_topics())
        try:
            yield
        finally:
            stop.set()
            if scheduler.running:
                scheduler.shutdown(wait=False)
            for t in list(tasks):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            for conn in leader_conn:
                await release_leadership(conn)  # a standby takes over
            await redis.aclose()
            await engine.dispose()

    secrets = staff_secrets.resolve(settings)  # fails fast outside demo/test mode when a secret is missing

    app = FastAPI(
        title="Parking platform",
        version="0.1.0",
        description="Cashless parking for Vietnamese cities: no cash, no stop, always a receipt.",
        lifespan=lifespan,
        docs_url=None,  # served from vendored assets by install_docs (no CDN)
        redoc_url=None,
    )
    app.state.staff_secrets = secrets
    install_error_handlers(app, settings.retry_after_s)
    # Added inner to outer: security headers on every answer (refusals included), then the rate limit
    # (before a body is read), then the request guard (sizes, NUL), then metrics.
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestGuard, default=settings.max_body_bytes, limits=settings.body_limits)
    app.add_middleware(
        RateLimit,
        limits=Limits(
            settings.rate_limit_client_per_s,
            settings.rate_limit_client_burst,
            settings.rate_limit_lane_per_s,
            settings.rate_limit_lane_burst,
            list(settings.rate_limit_exempt),
        ),
    )
    app.add_middleware(SecurityHeaders)
    for router in (
        health_router,
        gate_router,
        gate_outcome_router,
        lots_router,
        occupancy_router,
        lanes_router,
        quotes_router,
        payments_router,
        drivers_router,
        invoices_router,
        places_router,
        fee_proof_router,
        drivers_operator_router,
        disputes_router,
        disputes_operator_router,
        city_router,
        city_operator_router,
        reconciliation_router,
        reconciliation_console_router,
        driver_pages_router,
        places_operator_router,
        staff_router,
    ):
        app.include_router(router)

    install_docs(app)
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
