"""Staff business rules: login, sessions, API tokens, users, and who may see which lot. Never commits."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from parking.audit.service import record
from parking.kit.errors import AppError
from parking.models import STAFF_ROLES, Lot, StaffSession, StaffToken, StaffUser, StaffUserLot
from parking.settings import Settings
from parking.staff import passwords, repository, throttle

TOKEN_PREFIX = "stf_"
READ_ONLY_ROLES = frozenset({"auditor"})


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class Staff:
    """The authenticated person (or integration token) behind a request."""

    user_id: uuid.UUID
    operator_id: uuid.UUID
    email: str
    name: str
    role: str
    locale: str
    lot_ids: tuple[uuid.UUID, ...]  # the lots this principal may see: the operator's, or the user's subset
    via: str  # "session" | "token"
    csrf_token: str | None = None
    token_id: uuid.UUID | None = None
    token_stale: bool = False  # the token's last_used_at is older than a minute: worth writing again

    @property
    def actor(self) -> str:
        return f"staff:{self.email}" + (f"#token:{self.token_id}" if self.token_id else "")

    def has(self, *roles: str) -> bool:
        """admin may do what any role may; an empty list means any role."""
        return not roles or self.role == "admin" or self.role in roles

    def sees(self, lot_id: uuid.UUID | None) -> bool:
        return lot_id is not None and lot_id in self.lot_ids


async def principal(db: AsyncSession, user: StaffUser, *, role: str, via: str, **extra: object) -> Staff:
    own = await repository.operator_lots(db, user.operator_id)
    subset = await repository.user_lots(db, user.id)
    lots = tuple(lot for lot in own if not subset or lot in subset)
    return Staff(
        user_id=user.id,
        operator_id=user.operator_id,
        email=user.email,
        name=user.name,
        role=role,
        locale=user.locale,
        lot_ids=lots,
        via=via,
        **extra,  # type: ignore[arg-type]
    )


async def login(
    db: AsyncSession, redis: Redis, settings: Settings, *, email: str, password: str, ip: str, now: datetime
) -> tuple[StaffUser, str, str]:
    """Check the password (throttled); open a console session. Returns the user, the session token, the CSRF."""
    await throttle.check(
        redis, email, ip, max_email=settings.login_max_failures, max_ip=settings.login_max_failures_per_ip
    )
    user = await repository.user_by_email(db, email)
    if user is None or not user.active or not passwords.verify_password(password, user.password_hash if user else None):
        await throttle.failed(redis, email, ip, settings.login_window_s)
        await record(db, actor=f"ip:{ip}", action="staff.login_failed", entity="staff", entity_id=email[:200], data={})
        raise AppError("invalid_credentials", "Wrong e-mail address or password.", 401)
    await throttle.succeeded(redis, email, ip)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = now
    raw = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    db.add(
        StaffSession(
            token_hash=sha256(raw),
            user_id=user.id,
            csrf_token=csrf,
            expires_at=now + timedelta(seconds=settings.console_session_ttl_s),
        )
    )
    await record(
        db, actor=f"staff:{user.email}", action="staff.login", entity="staff", entity_id=str(user.id), data={"ip": ip}
    )
    await db.flush()
    return user, raw, csrf


async def from_session(db: AsyncSession, raw: str, now: datetime) -> Staff | None:
    found = await repository.session_user(db, sha256(raw), now)
    if found is None:
        return None
    user, csrf = found
    return await principal(db, user, role=user.role, via="session", csrf_token=csrf)


async def from_token(db: AsyncSession, raw: str, now: datetime) -> Staff | None:
    if not raw.startswith(TOKEN_PREFIX):
        return None
    found = await repository.token_user(db, sha256(raw), now)
    if found is None:
        return None
    user, token = found
    stale = token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1)
    return await principal(db, user, role=token.role, via="token", token_id=token.id, token_stale=stale)


async def token_last_used(db: AsyncSession, token_id: uuid.UUID, now: datetime) -> None:
    await repository.touch_token(db, token_id, now)


async def logout(db: AsyncSession, raw: str) -> None:
    await repository.delete_session(db, sha256(raw))


def _check_role(role: str) -> None:
    if role not in STAFF_ROLES:
        raise AppError("unknown_role", f"Role must be one of {', '.join(STAFF_ROLES)}.", 422, {"role": role})


async def create_token(
    db: AsyncSession, staff: Staff, *, name: str, role: str, expires_days: int | None, now: datetime
) -> tuple[StaffToken, str]:
    """An integration token of the calling admin's operator; it acts with `role` (scoped), over the admin's lots."""
    _check_role(role)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 256 random bits: a fast hash is enough to store it
    tok = StaffToken(
        id=uuid.uuid4(),
        user_id=staff.user_id,
        name=name.strip() or "integration",
        token_hash=sha256(raw),
        role=role,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    db.add(tok)
    await record(
        db,
        actor=staff.actor,
        action="staff.token_created",
        entity="staff_token",
        entity_id=str(tok.id),
        data={"name": tok.name, "role": role},
    )
    await db.flush()
    return tok, raw


async def revoke_token(db: AsyncSession, staff: Staff, token_id: uuid.UUID, now: datetime) -> StaffToken:
    tok = await db.get(StaffToken, token_id)
    owner = await db.get(StaffUser, tok.user_id) if tok else None
    if tok is None or owner is None or owner.operator_id != staff.operator_id:
        raise AppError("token_not_found", f"No token {token_id}.", 404)
    if tok.revoked_at is None:
        tok.revoked_at = now
        await record(
            db, actor=staff.actor, action="staff.token_revoked", entity="staff_token", entity_id=str(tok.id), data={}
        )
    await db.flush()
    return tok


async def create_user(
    db: AsyncSession,
    *,
    operator_id: uuid.UUID,
    email: str,
    name: str,
    role: str,
    password: str,
    lot_ids: Iterable[uuid.UUID] = (),
    actor: str,
    locale: str = "vi",
) -> StaffUser:
    _check_role(role)
    if len(password) < 10:
        raise AppError("weak_password", "A staff password has at least 10 characters.", 422)
    email = email.strip().lower()
    if await repository.user_by_email(db, email) is not None:
        raise AppError("email_taken", "A staff account with this e-mail address exists.", 409)
    lots = list(dict.fromkeys(lot_ids))
    own = set(await repository.operator_lots(db, operator_id))
    foreign = [str(lot) for lot in lots if lot not in own]
    if foreign:
        raise AppError(
            "lot_not_found", "A staff member can only be given lots of their own operator.", 404, {"lots": foreign}
        )
    user = StaffUser(
        id=uuid.uuid4(),
        operator_id=operator_id,
        email=email,
        name=name.strip() or email,
        role=role,
        password_hash=passwords.hash_password(password),
        locale=locale,
    )
    db.add(user)
    await db.flush()
    for lot in lots:
        db.add(StaffUserLot(user_id=user.id, lot_id=lot))
    await record(
        db,
        actor=actor,
        action="staff.user_created",
        entity="staff",
        entity_id=str(user.id),
        data={"email": email, "role": role, "lots": [str(x) for x in lots]},
    )
    await db.flush()
    return user


def lot_of(staff: Staff, lot_id: uuid.UUID | None, what: str = "lot") -> uuid.UUID:
    """The lot, when the principal may see it; otherwise 404 (another operator's data does not exist for them)."""
    if lot_id is None or not staff.sees(lot_id):
        raise AppError(f"{what}_not_found", f"No {what} here.", 404)
    return lot_id


async def lot_row(db: AsyncSession, staff: Staff, lot_id: uuid.UUID) -> Lot:
    lot = await db.get(Lot, lot_of(staff, lot_id))
    if lot is None:
        raise AppError("lot_not_found", "No lot here.", 404)
    return lot


def now_utc() -> datetime:
    return datetime.now(UTC)
