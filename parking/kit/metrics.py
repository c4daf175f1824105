"""Prometheus metrics exposed at ``GET /metrics``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

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
OCCUPANCY_REPAIRS = Counter("parking_occupancy_repairs_total", "Redis occupancy counters corrected from PostgreSQL")


async def metrics_middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    start = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    path = getattr(route, "path", "unmatched")
    REQUEST_LATENCY.labels(request.method, path, str(response.status_code)).observe(time.perf_counter() - start)
    return response


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
