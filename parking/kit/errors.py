"""One JSON error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger("parking.errors")

# SQLSTATE classes (PostgreSQL appendix A): connection problems and server shutdown/overload are an outage
# of a dependency (503, retry later); data exceptions are input the database cannot store (422).
_OUTAGE_SQLSTATE_PREFIXES = ("08", "53", "57P")
_DATA_SQLSTATE_PREFIX = "22"


class AppError(Exception):
    def __init__(self, code: str, message: str, status: int = 400, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details or {}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        out.append({"field": ".".join(loc) or "body", "problem": err.get("msg", "invalid"), "type": err.get("type")})
    return out


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, looked up on the SQLAlchemy wrapper and the asyncpg cause."""
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 5:
        seen.append(cur)
        code = getattr(cur, "sqlstate", None) or getattr(cur, "pgcode", None)
        if isinstance(code, str) and code:
            return code
        cur = getattr(cur, "orig", None) or cur.__cause__
    return None


def classify(exc: BaseException) -> tuple[int, str, str]:
    """(status, code, message) for an exception that is not an AppError."""
    state = _sqlstate(exc)
    if isinstance(exc, sa_exc.DataError) or (state or "").startswith(_DATA_SQLSTATE_PREFIX):
        return 422, "invalid_request", "The request holds a value that cannot be stored (e.g. a NUL character)."
    outage = (
        isinstance(exc, OSError | RedisConnectionError | RedisTimeoutError | sa_exc.TimeoutError)
        or isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.InterfaceError)
        or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
        or (isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated)
        or (state is not None and state.startswith(_OUTAGE_SQLSTATE_PREFIXES))
    )
    if outage:
        return 503, "service_unavailable", "A service the platform depends on is out of reach; retry shortly."
    return 500, "internal_error", "Something went wrong on our side; it has been logged."


def install_error_handlers(app: FastAPI, retry_after_s: int = 5) -> None:
    async def _failure(request: Request, exc: Exception) -> JSONResponse:
        status, code, message = classify(exc)
        log.error(
            "request_failed",
            method=request.method,
            path=request.url.path,
            status=status,
            code=code,
            error=f"{type(exc).__name__}: {exc}"[:500],
            exc_info=status == 500,
        )
        headers = {"Retry-After": str(retry_after_s)} if status == 503 else None
        return JSONResponse(error_body(code, message), status_code=status, headers=headers)

    # Dependencies and unexpected failures: the same JSON shape, never a plain-text 500. The specific
    # classes are handled inside the app (so middleware sees a normal response); ``Exception`` is the
    # catch-all at the outermost layer.
    for cls in (OSError, sa_exc.SQLAlchemyError, RedisError, asyncpg.PostgresError, asyncpg.InterfaceError):
        app.add_exception_handler(cls, _failure)
    app.add_exception_handler(Exception, _failure)

    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _field_errors(exc)
        summary = "; ".join(f"{f['field']}: {f['problem']}" for f in fields[:5])
        return JSONResponse(
            error_body("invalid_request", f"The request is not valid: {summary}", {"fields": fields}),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
        message = str(exc.detail)
        if exc.status_code in (404, 405) and message in ("Not Found", "Method Not Allowed"):
            message = f"{message}: there is no {request.method} {request.url.path}; see /docs for the API."
        return JSONResponse(error_body(code, message), status_code=exc.status_code)
