"""Driver sign-in through the city's identity provider (OIDC), plates linked only with proof (issue 13.4),
and a driver sees only their own vehicles, sessions, debts and fee proofs."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import LotHandle, event, random_car_plate
from tests.parking.drivers.conftest import Idp, new_subject, staff_headers


async def sign_in(client: httpx.AsyncClient, idp: Idp, sub: str) -> tuple[dict[str, str], dict]:
    r = await client.post("/v1/drivers/oidc/token", json={"id_token": idp.token(sub)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}, r.json()


async def test_sign_in_maps_the_subject_and_links_the_registered_plates(client: httpx.AsyncClient, idp: Idp) -> None:
    sub, plate = new_subject(), random_car_plate()
    idp.register(sub, [{"plate": plate, "vehicle_class": "car_small", "since": "2024-01-15"}], name="Lê Văn C")
    headers, body = await sign_in(client, idp, sub)
    assert body["driver"]["full_name"] == "Lê Văn C"
    [v] = body["vehicles"]
    assert v["verified_by"] == "idp" and v["history_from"].startswith("2024-01-15")
    # The same subject again is the same account.
    _, again = await sign_in(client, idp, sub)
    assert again["driver"]["id"] == body["driver"]["id"]
    mine = (await client.get("/v1/drivers/me/vehicles", headers=headers)).json()
    assert [x["plate_display"] for x in mine] == [v["plate_display"]]


async def test_tokens_that_fail_verification_are_refused(client: httpx.AsyncClient, idp: Idp) -> None:
    sub = new_subject()
    cases = {
        "expired": idp.token(sub, ttl_s=-120),
        "wrong audience": idp.token(sub, audience="another-app"),
    }
    # Signed by a key the provider never published, with the provider's issuer and our audience.
    rogue = RSAKey.generate_key(2048, parameters={"kid": "rogue"})
    now = int(time.time())
    claims = {"iss": idp.url, "aud": "parking-hanoi", "sub": sub, "iat": now, "exp": now + 600}
    cases["foreign key"] = jwt.encode({"alg": "RS256", "kid": "rogue"}, claims, rogue)
    cases["not a jwt"] = "a.b.c" * 3
    for name, token in cases.items():
        r = await client.post("/v1/drivers/oidc/token", json={"id_token": token})
        assert r.status_code == 401, (name, r.text)
        assert r.json()["error"]["code"] == "invalid_id_token", name


async def test_unproven_plate_is_a_claim_until_the_operator_approves(
    client: httpx.AsyncClient, idp: Idp, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """13.4: claiming someone else's plate shows nothing of that car; approval shows only what follows it."""
    victim_plate = random_car_plate()
    earlier = datetime.now(UTC) - timedelta(hours=5)
    r = await client.post("/v1/gate/events", json=event("entry", victim_plate, at=earlier), headers=lot.entry.headers)
    old_session = r.json()["session_id"]
    r = await client.post("/v1/gate/events", json=event("exit", victim_plate), headers=lot.exit.headers)
    assert r.status_code == 200

    headers, _ = await sign_in(client, idp, new_subject())
    r = await client.post(
        "/v1/drivers/me/vehicles", json={"plate": victim_plate, "vehicle_class": "car_small"}, headers=headers
    )
    assert r.status_code == 202 and r.json()["status"] == "pending"
    claim = r.json()
    assert (await client.get("/v1/drivers/me/vehicles", headers=headers)).json() == []
    assert (await client.get("/v1/drivers/me/sessions", headers=headers)).json() == []
    r = await client.get(f"/v1/sessions/{old_session}/fee", headers=headers)
    assert r.status_code == 404
    # The claim goes to the operators in whose lots the plate has parked: not to another operator's staff,
    # not even its admin (the plate has parked somewhere, so it is not an admin's claim of a plate seen nowhere).
    stranger = await staff_headers(sessionmaker, None, "admin")
    assert claim["id"] not in {
        c["id"] for c in (await client.get("/v1/operator/vehicle-claims", headers=stranger)).json()
    }
    url = f"/v1/operator/vehicle-claims/{claim['id']}/decision"
    r = await client.post(url, json={"approve": True}, headers=stranger)
    assert r.status_code == 404, r.text
    auditor = await staff_headers(sessionmaker, lot.operator_id, "auditor")
    assert claim["id"] in {c["id"] for c in (await client.get("/v1/operator/vehicle-claims", headers=auditor)).json()}
    assert (await client.post(url, json={"approve": True}, headers=auditor)).status_code == 403  # read only
    # The operator approves (papers seen); the history before the approval stays hidden.
    r = await client.post(
        url,
        json={"approve": True, "reason": "giấy đăng ký xe đã xem"},
        headers=await staff_headers(sessionmaker, lot.operator_id, "operator"),
    )
    assert r.status_code == 200 and r.json()["status"] == "approved"
    [v] = (await client.get("/v1/drivers/me/vehicles", headers=headers)).json()
    assert v["verified_by"] == "operator"
    assert (await client.get("/v1/drivers/me/sessions", headers=headers)).json() == []
    assert (await client.get(f"/v1/sessions/{old_session}/fee", headers=headers)).status_code == 404
    # A stay after the link is the driver's.
    r = await client.post("/v1/gate/events", json=event("entry", victim_plate), headers=lot.entry.headers)
    new_session = r.json()["session_id"]
    sessions = (await client.get("/v1/drivers/me/sessions", headers=headers)).json()
    assert [s["id"] for s in sessions] == [new_session]
    assert (await client.get(f"/v1/sessions/{new_session}/fee", headers=headers)).status_code == 200


async def test_operator_claim_endpoints_need_staff(client: httpx.AsyncClient, idp: Idp) -> None:
    assert (await client.get("/v1/operator/vehicle-claims")).status_code == 401
    headers, _ = await sign_in(client, idp, new_subject())
    assert (await client.get("/v1/operator/vehicle-claims", headers=headers)).status_code == 401
    r = await client.post(
        f"/v1/operator/vehicle-claims/{uuid.uuid4()}/decision", json={"approve": True}, headers=headers
    )
    assert r.status_code == 401


async def test_rejected_claim_is_seen_with_its_reason(
    client: httpx.AsyncClient, idp: Idp, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A plate that parked nowhere: its claim goes to the admins (of any operator), not to operators' desks."""
    admin = await staff_headers(sessionmaker, None, "admin")
    desk = await staff_headers(sessionmaker, None, "supervisor")
    headers, _ = await sign_in(client, idp, new_subject())
    r = await client.post(
        "/v1/drivers/me/vehicles", json={"plate": random_car_plate(), "vehicle_class": "car_small"}, headers=headers
    )
    claim = r.json()
    pending = (await client.get("/v1/operator/vehicle-claims", headers=admin)).json()
    assert claim["id"] in {c["id"] for c in pending}
    assert claim["id"] not in {c["id"] for c in (await client.get("/v1/operator/vehicle-claims", headers=desk)).json()}
    r = await client.post(
        f"/v1/operator/vehicle-claims/{claim['id']}/decision",
        json={"approve": False, "reason": "Không khớp giấy đăng ký"},
        headers=admin,
    )
    assert r.json()["status"] == "rejected"
    [mine] = (await client.get("/v1/drivers/me/vehicle-claims", headers=headers)).json()
    assert mine["status"] == "rejected" and mine["decision_reason"] == "Không khớp giấy đăng ký"
    r = await client.post(f"/v1/operator/vehicle-claims/{claim['id']}/decision", json={"approve": True}, headers=admin)
    assert r.status_code == 409


async def test_a_driver_sees_only_their_own(client: httpx.AsyncClient, idp: Idp, lot: LotHandle) -> None:
    a_sub, b_sub = new_subject(), new_subject()
    a_plate, b_plate = random_car_plate(), random_car_plate()
    idp.register(a_sub, [{"plate": a_plate, "vehicle_class": "car_small", "since": "2020-01-01"}])
    idp.register(b_sub, [{"plate": b_plate, "vehicle_class": "car_small", "since": "2020-01-01"}])
    a, _ = await sign_in(client, idp, a_sub)
    b, _ = await sign_in(client, idp, b_sub)
    sids = {}
    for plate in (a_plate, b_plate):
        r = await client.post("/v1/gate/events", json=event("entry", plate), headers=lot.entry.headers)
        sids[plate] = r.json()["session_id"]
    a_sessions = {s["id"] for s in (await client.get("/v1/drivers/me/sessions", headers=a)).json()}
    b_sessions = {s["id"] for s in (await client.get("/v1/drivers/me/sessions", headers=b)).json()}
    assert a_sessions == {sids[a_plate]} and b_sessions == {sids[b_plate]}
    assert (await client.get(f"/v1/sessions/{sids[b_plate]}/fee", headers=a)).status_code == 404
    assert (await client.get(f"/v1/sessions/{sids[a_plate]}/fee", headers=a)).status_code == 200
    a_vehicles = [v["plate"] for v in (await client.get("/v1/drivers/me/vehicles", headers=a)).json()]
    assert b_plate.replace("-", "").replace(".", "") not in a_vehicles
    # B cannot claim A's plate into view either: it becomes a claim, and A's link stands.
    r = await client.post("/v1/drivers/me/vehicles", json={"plate": a_plate, "vehicle_class": "car_small"}, headers=b)
    assert r.status_code == 202
    assert sids[a_plate] not in {s["id"] for s in (await client.get("/v1/drivers/me/sessions", headers=b)).json()}


async def test_vehicle_class_must_fit_the_plate_layout(client: httpx.AsyncClient, idp: Idp) -> None:
    headers, _ = await sign_in(client, idp, new_subject())
    r = await client.post(
        "/v1/drivers/me/vehicles", json={"plate": "29-MĐ1 123.45", "vehicle_class": "car_small"}, headers=headers
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "plate_class_mismatch"
    r = await client.post(
        # A four-digit car plate: no motorbike layout fits it (two-letter series such as LD fit both kinds).
        "/v1/drivers/me/vehicles",
        json={"plate": "30A-1234", "vehicle_class": "motorbike"},
        headers=headers,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "plate_class_mismatch"
    r = await client.post(
        "/v1/drivers/me/vehicles", json={"plate": "29-MĐ1 123.45", "vehicle_class": "motorbike"}, headers=headers
    )
    assert r.status_code == 202
    # The provider's data is checked the same way: a motorbike plate asserted as a car is not linked.
    sub = new_subject()
    idp.register(sub, [{"plate": "29X312345", "vehicle_class": "car_small"}])
    _, body = await sign_in(client, idp, sub)
    assert body["vehicles"] == []
