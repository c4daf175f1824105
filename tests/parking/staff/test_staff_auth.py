"""Console login (cookie session, CSRF, throttling), API tokens (scoped, revocable), lot scoping, secrets."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.settings import Settings
from parking.staff import passwords
from parking.staff.secrets import resolve
from tests.factories import LotHandle, make_lot, make_staff


async def _login(c: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await c.post("/v1/staff/login", json={"email": email, "password": password})


async def test_login_sets_a_signed_httponly_samesite_cookie_and_csrf_guards_writes(
    live_server: object, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    staff = await make_staff(sessionmaker, lot.operator_id, "admin")
    async with httpx.AsyncClient(base_url=live_server.url) as c:  # type: ignore[attr-defined]
        r = await _login(c, staff.email, staff.password)
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie  # plain http here
        csrf = r.json()["csrf_token"]
        assert (await c.get("/v1/staff/me")).json()["email"] == staff.email
        body = {"name": "x", "role": "auditor"}
        assert (await c.post("/v1/staff/tokens", json=body)).json()["error"]["code"] == "csrf_failed"
        bad = await c.post("/v1/staff/tokens", json=body, headers={"X-CSRF-Token": "nope"})
        assert bad.status_code == 403
        ok = await c.post("/v1/staff/tokens", json=body, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 201, ok.text
        # A tampered cookie is no session.
        value = c.cookies.get("parking_staff")
        assert value
        c.cookies.set("parking_staff", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
        assert (await c.get("/v1/staff/me")).status_code == 401
        c.cookies.set("parking_staff", value)
        assert (await c.post("/v1/staff/logout", headers={"X-CSRF-Token": csrf})).status_code == 204
        c.cookies.set("parking_staff", value)  # replaying the old cookie after logout
        assert (await c.get("/v1/staff/me")).status_code == 401


async def test_login_is_throttled_per_account(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    staff = await make_staff(sessionmaker, lot.operator_id, "operator")
    for _ in range(settings.login_max_failures):
        assert (await _login(client, staff.email, "wrong password")).status_code == 401
    r = await _login(client, staff.email, staff.password)  # even the right password, until the window ends
    assert r.status_code == 429 and r.json()["error"]["details"]["retry_after_s"] > 0
    unknown = await _login(client, "nobody@example.vn", "whatever")
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "invalid_credentials"


async def test_api_token_acts_with_its_role_and_stops_when_revoked(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = await make_staff(sessionmaker, lot.operator_id, "admin")
    r = await client.post("/v1/staff/tokens", json={"name": "bi-export", "role": "auditor"}, headers=admin.headers)
    assert r.status_code == 201
    token, token_id = r.json()["token"], r.json()["id"]
    h = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1/staff/me", headers=h)).json()["role"] == "auditor"
    assert (await client.post("/v1/payments/intents/expire", headers=h)).status_code == 403  # read only
    listed = (await client.get("/v1/staff/tokens", headers=admin.headers)).json()
    assert token not in str(listed) and any(t["id"] == token_id for t in listed)  # only its hash is kept
    assert (await client.delete(f"/v1/staff/tokens/{token_id}", headers=admin.headers)).status_code == 200
    assert (await client.get("/v1/staff/me", headers=h)).status_code == 401


async def test_a_user_limited_to_lots_sees_only_those_lanes(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    a = await make_lot(sessionmaker, capacities={"car_small": 3})
    admin = await make_staff(sessionmaker, a.operator_id, "admin")
    # A second lot of the same operator, made through the factory then moved to A's operator.
    from sqlalchemy import update

    from parking.models import Lot

    b = await make_lot(sessionmaker, capacities={"car_small": 3})
    async with sessionmaker() as db:
        await db.execute(update(Lot).where(Lot.id == b.id).values(operator_id=a.operator_id))
        await db.commit()
    limited = await make_staff(sessionmaker, a.operator_id, "operator", lot_ids=(a.id,))
    all_lanes = {x["lot"] for x in (await client.get("/v1/lanes", headers=admin.headers)).json()["lanes"]}
    mine = {x["lot"] for x in (await client.get("/v1/lanes", headers=limited.headers)).json()["lanes"]}
    assert all_lanes == {a.code, b.code} and mine == {a.code}
    r = await client.post(
        "/v1/staff/users",
        json={
            "email": "lots@example.vn",
            "role": "operator",
            "password": "x" * 12,
            "lot_ids": [str(b.id)],
        },
        headers=limited.headers,
    )
    assert r.status_code == 403  # only an admin creates accounts


async def test_staff_cannot_be_given_another_operators_lot(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await make_lot(sessionmaker, capacities={"car_small": 1})
    admin = await make_staff(sessionmaker, lot.operator_id, "admin")
    body = {
        "email": f"x{other.code.lower()}@example.vn",
        "role": "operator",
        "password": "x" * 12,
        "lot_ids": [str(other.id)],
    }
    r = await client.post("/v1/staff/users", json=body, headers=admin.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "lot_not_found"


def test_no_secret_has_a_default_in_production(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="PARKING_CONSOLE_SECRET_KEY"):
        resolve(Settings(mode="production", data_dir=tmp_path))
    demo = resolve(Settings(mode="demo", data_dir=tmp_path))
    again = resolve(Settings(mode="demo", data_dir=tmp_path))
    assert demo == again and len(demo.console_key) >= 40 and demo.console_key != demo.metrics_token
    assert (tmp_path / "secrets" / "console_secret_key").stat().st_mode & 0o077 == 0
    other = resolve(Settings(mode="demo", data_dir=tmp_path / "elsewhere"))
    assert other.console_key != demo.console_key  # per installation
    set_ = resolve(Settings(mode="production", data_dir=tmp_path, console_secret_key="k" * 40, metrics_token="m" * 40))
    assert set_.console_key == "k" * 40


# argon2 is slow on purpose (~0.1 s a hash): a few examples, no per-example deadline.
@hsettings(max_examples=8, deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_password_hash_verifies_only_its_password(a: str, b: str) -> None:
    stored = passwords.hash_password(a)
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(a, stored)
    assert passwords.verify_password(b, stored) == (a == b)
    assert not passwords.verify_password(a, None)
