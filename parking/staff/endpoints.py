"""Staff API (``/v1/staff``): login/logout for the console, who am I, users and API tokens (admin)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from parking.kit.deps import DB, State
from parking.staff import repository, service
from parking.staff.deps import SESSION_COOKIE, AnyStaff, session_token, set_session_cookie, staff_dependency
from parking.staff.schemas import LoginIn, MeOut, TokenCreated, TokenIn, TokenOut, UserIn, UserOut

router = APIRouter(prefix="/v1/staff", tags=["staff"])
Admin = Annotated[service.Staff, Depends(staff_dependency("admin"))]
Leaving = Annotated[service.Staff, Depends(staff_dependency(read_only_ok=True))]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _me(staff: service.Staff) -> MeOut:
    return MeOut(
        id=staff.user_id,
        operator_id=staff.operator_id,
        email=staff.email,
        name=staff.name,
        role=staff.role,
        via=staff.via,
        lot_ids=list(staff.lot_ids),
        csrf_token=staff.csrf_token,
    )


@router.post("/login", response_model=MeOut, summary="Console login: sets the session cookie (throttled)")
async def login(body: LoginIn, request: Request, db: DB, state: State) -> JSONResponse:
    now = service.now_utc()
    user, raw, csrf = await service.login(
        db, state.redis, state.settings, email=body.email, password=body.password, ip=client_ip(request), now=now
    )
    staff = await service.principal(db, user, role=user.role, via="session", csrf_token=csrf)
    response = JSONResponse(_me(staff).model_dump(mode="json"))
    set_session_cookie(response, request, state, raw)
    return response


@router.post("/logout", status_code=204, summary="End the console session")
async def logout(request: Request, db: DB, state: State, staff: Leaving) -> Response:
    raw = session_token(request, state.settings.console_session_ttl_s)
    if raw:
        await service.logout(db, raw)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=MeOut, summary="The authenticated staff member, role and visible lots")
async def me(staff: AnyStaff) -> MeOut:
    return _me(staff)


def _token_out(tok: object, owner: str) -> TokenOut:
    return TokenOut.model_validate(
        {**{k: getattr(tok, k) for k in TokenOut.model_fields if k != "owner"}, "owner": owner}
    )


@router.post("/tokens", response_model=TokenCreated, status_code=201, summary="Create an integration API token")
async def create_token(body: TokenIn, db: DB, staff: Admin) -> TokenCreated:
    tok, raw = await service.create_token(
        db, staff, name=body.name, role=body.role, expires_days=body.expires_days, now=service.now_utc()
    )
    out = TokenCreated(**_token_out(tok, staff.email).model_dump(), token=raw)
    return out


@router.get("/tokens", response_model=list[TokenOut], summary="The operator's API tokens")
async def list_tokens(db: DB, staff: Admin) -> list[TokenOut]:
    return [_token_out(t, email) for t, email in await repository.tokens_of_operator(db, staff.operator_id)]


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="Revoke an API token")
async def revoke_token(token_id: uuid.UUID, db: DB, staff: Admin) -> TokenOut:
    tok = await service.revoke_token(db, staff, token_id, service.now_utc())
    return _token_out(tok, "")


@router.post("/users", response_model=UserOut, status_code=201, summary="Create a staff account of the operator")
async def create_user(body: UserIn, db: DB, staff: Admin) -> UserOut:
    user = await service.create_user(
        db,
        operator_id=staff.operator_id,
        email=body.email,
        name=body.name,
        role=body.role,
        password=body.password,
        lot_ids=body.lot_ids,
        actor=staff.actor,
        locale=body.locale,
    )
    return UserOut(id=user.id, email=user.email, name=user.name, role=user.role, active=user.active)


@router.get("/users", response_model=list[UserOut], summary="The operator's staff accounts")
async def list_users(db: DB, staff: Admin) -> list[UserOut]:
    return [
        UserOut(id=u.id, email=u.email, name=u.name, role=u.role, active=u.active)
        for u in await repository.users_of_operator(db, staff.operator_id)
    ]
