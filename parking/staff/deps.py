"""FastAPI dependencies for staff routes.

``StaffUser = require_staff("supervisor")`` authenticates the request (an API token in
``Authorization: Bearer stf_...`` or the console's session cookie), checks CSRF for cookie-authenticated
writes, refuses read-only roles on writes, and checks the role (admin passes every role check).
The resulting :class:`parking.staff.service.Staff` carries the lots the principal may see; routes scope
every query with ``staff.lot_ids`` or :func:`parking.staff.service.lot_of`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from parking.kit.db import transaction
from parking.kit.deps import DB, AppState, get_state
from parking.kit.errors import AppError
from parking.staff import service
from parking.staff.secrets import StaffSecrets
from parking.staff.service import READ_ONLY_ROLES, Staff

SESSION_COOKIE = "parking_staff"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def staff_secrets(request: Request) -> StaffSecrets:
    found: StaffSecrets = request.app.state.staff_secrets
    return found


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(staff_secrets(request).console_key, salt="parking-staff-session")


def sign_session(request: Request, raw: str) -> str:
    return _serializer(request).dumps(raw)


def session_token(request: Request, max_age_s: int) -> str | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        value = _serializer(request).loads(cookie, max_age=max_age_s)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def cookie_secure(request: Request, state: AppState) -> bool:
    configured = state.settings.console_cookie_secure
    return configured if configured is not None else request.url.scheme == "https"


def set_session_cookie(response: Any, request: Request, state: AppState, raw: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        sign_session(request, raw),
        max_age=state.settings.console_session_ttl_s,
        httponly=True,
        samesite="lax",  # top-level navigation to the console keeps the session; cross-site POSTs do not carry it
        secure=cookie_secure(request, state),
        path="/",
    )


def bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


async def _csrf_ok(request: Request, expected: str | None) -> bool:
    if not expected:
        return False
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # Starlette caches the parsed form on the request for the endpoint
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())


async def authenticate(request: Request, db: DB, state: AppState) -> Staff | None:
    """The principal of the request, or None (no or bad credentials)."""
    now = service.now_utc()
    token = bearer(request)
    if token is not None:
        staff = await service.from_token(db, token, now)
        if staff is not None and staff.token_id is not None and staff.token_stale:
            # Its own short transaction: the request's may be read-only and never commit.
            async with transaction(state.sessionmaker) as tx:
                await service.token_last_used(tx, staff.token_id, now)
        return staff
    raw = session_token(request, state.settings.console_session_ttl_s)
    if raw is None:
        return None
    return await service.from_session(db, raw, now)


async def check(
    request: Request, db: DB, state: AppState, roles: tuple[str, ...], *, write: bool | None, read_only_ok: bool
) -> Staff:
    staff = await authenticate(request, db, state)
    if staff is None:
        raise AppError("unauthorized", "Staff authentication required (console login or an API token).", 401)
    is_write = write if write is not None else request.method not in SAFE_METHODS
    if is_write and staff.via == "session" and not await _csrf_ok(request, staff.csrf_token):
        raise AppError("csrf_failed", "The form is stale or was not sent by the console; reload the page.", 403)
    if is_write and staff.role in READ_ONLY_ROLES and not read_only_ok:
        raise AppError("forbidden", "This account is read only.", 403, {"role": staff.role})
    if not staff.has(*roles):
        raise AppError("forbidden", "Your role may not do this.", 403, {"role": staff.role, "needs": list(roles)})
    request.state.staff = staff
    return staff


def staff_dependency(
    *roles: str, write: bool | None = None, read_only_ok: bool = False
) -> Callable[..., Awaitable[Staff]]:
    """The dependency behind ``require_staff``: use it as ``Annotated[Staff, Depends(staff_dependency(...))]``."""

    async def dependency(request: Request, db: DB, state: Annotated[AppState, Depends(get_state)]) -> Staff:
        return await check(request, db, state, roles, write=write, read_only_ok=read_only_ok)

    return dependency


def require_staff(*roles: str, write: bool | None = None, read_only_ok: bool = False) -> Any:
    """An ``Annotated[Staff, Depends(...)]`` for a route open to `roles` (admin always; none listed: any role).

    `write` defaults to "the method is not GET/HEAD/OPTIONS"; read-only roles (auditor) are refused on writes
    unless `read_only_ok` (their own logout). Cookie-authenticated writes always need the CSRF token.
    Type checkers see ``Any``; modules that want the type write ``Annotated[Staff, Depends(staff_dependency(...))]``.
    """
    return Annotated[Staff, Depends(staff_dependency(*roles, write=write, read_only_ok=read_only_ok))]


AnyStaff = Annotated[Staff, Depends(staff_dependency())]
