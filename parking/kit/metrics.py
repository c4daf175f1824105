"""Prometheus metrics exposed at ``GET /metrics``."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_LATENCY = Histogram(
    "parking_http_request_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
GATE_EVENTS = Counter("parking_gate_events_total", "Gate events by kind and outcome", ["kind", "action", "replayed"])
OPEN_SESSIONS = Gauge("parking_open_sessions", "Open parking sessions (refreshed by the repair loop)", ["lot"])
LANES_ONLINE = Gauge("parking_lanes_online", "Lanes that sent a heartbeat recently")
OUTBOX_PROCESSED = Counter("parking_outbox_processed_total", "Outbox messages by topic and result", ["topic", "result"])
AFTER_COMMIT_FAILURES = Counter(
    "parking_after_commit_failures_total",
    "After-commit effects (Redis mirror, live streams) that failed; the repair job restores them",
    ["effect"],
)
UNVERIFIED_NOTIFICATIONS = Counter(
    "parking_payment_notifications_rejected_total",
    "Payment notifications refused as unverified (bad signature, malformed), by provider and reason",
    ["provider", "reason"],
)
OCCUPANCY_REPAIRS = Counter("parking_occupancy_repairs_total", "Redis occupancy counters corrected from PostgreSQL")


class MetricsMiddleware:
    """Pure ASGI (Starlette's BaseHTTPMiddleware adds a task and a stream per request on the hot path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            REQUEST_LATENCY.labels(scope["method"], path, str(status)).observe(time.perf_counter() - start)


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
