"""A driver disputes a session and sees the operator's decision (refund with adjustment invoice, or rejection);
ratings and problem reports reach the operator's queue."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import LotHandle, event, random_car_plate
from tests.parking.drivers.conftest import Idp, new_subject, staff_headers
from tests.parking.payments.conftest import Sim


async def driver_with_plate(client: httpx.AsyncClient, idp: Idp, plate: str) -> dict[str, str]:
    sub = new_subject()
    idp.register(sub, [{"plate": plate, "vehicle_class": "car_small", "since": "2020-01-01"}])
    r = await client.post("/v1/drivers/oidc/token", json={"id_token": idp.token(sub)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_dispute_refunded_with_an_adjustment_invoice(
    client: httpx.AsyncClient, idp: Idp, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup = await staff_headers(sessionmaker, lot.operator_id, "supervisor")
    plate = random_car_plate()
    headers = await driver_with_plate(client, idp, plate)
    wallet = await sim.new_account(1_000_000)
    r = await client.post(
        "/v1/drivers/me/payment-methods", json={"provider_token": wallet, "kind": "ewallet"}, headers=headers
    )
    assert r.status_code == 201, r.text
    at = datetime.now(UTC)
    await client.post(
        "/v1/gate/events", json=event("entry", plate, at=at - timedelta(hours=3)), headers=lot.entry.headers
    )
    ex = (await client.post("/v1/gate/events", json=event("exit", plate, at=at), headers=lot.exit.headers)).json()
    sid, fee = ex["session_id"], ex["fee_vnd"]
    assert "linked_account" in ex["flags"] and fee > 0
    r = await client.post(
        "/v1/drivers/me/disputes",
        json={"session_id": sid, "kind": "wrong_time", "reason": "Tôi vào lúc muộn hơn, chỉ gửi 2 giờ."},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    dispute = r.json()
    assert dispute["status"] == "open" and dispute["lot"]["code"] == lot.code
    # Filing again returns the same open dispute.
    again = await client.post(
        "/v1/drivers/me/disputes", json={"session_id": sid, "kind": "wrong_time", "reason": "lần nữa"}, headers=headers
    )
    assert again.json()["id"] == dispute["id"]
    queue = (await client.get("/v1/operator/disputes", headers=sup)).json()
    mine = next(d for d in queue if d["id"] == dispute["id"])
    # Another operator's staff: not in their queue, and deciding it answers as if it did not exist.
    stranger = await staff_headers(sessionmaker, None, "admin")
    assert dispute["id"] not in {d["id"] for d in (await client.get("/v1/operator/disputes", headers=stranger)).json()}
    r = await client.post(
        f"/v1/operator/disputes/{dispute['id']}/decision",
        json={"decision": "reject", "reason": "x" * 5},
        headers=stranger,
    )
    assert r.status_code == 404, r.text
    # Money goes back only on a supervisor's decision; an operator may reject but not refund.
    r = await client.post(
        f"/v1/operator/disputes/{dispute['id']}/decision",
        json={"decision": "refund", "reason": "thử hoàn tiền"},
        headers=await staff_headers(sessionmaker, lot.operator_id, "operator"),
    )
    assert r.status_code == 403, r.text
    ev = mine["evidence"]
    assert ev["fee_proof"]["total_vnd"] == fee and ev["fee_proof"]["lines"]
    assert [p["amount_vnd"] for p in ev["payments"]] == [fee] and ev["payments"][0]["status"] == "confirmed"
    r = await client.post(
        f"/v1/operator/disputes/{dispute['id']}/decision",
        json={"decision": "refund", "reason": "Camera lối vào ghi sai giờ; hoàn 1 giờ.", "amount_vnd": 25000},
        headers=sup,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "refunded" and r.json()["refund_vnd"] == 25000
    # The provider refund and the adjustment e-invoice follow through the outbox; the driver sees them.
    for _ in range(150):
        seen = (await client.get(f"/v1/drivers/me/disputes/{dispute['id']}", headers=headers)).json()
        if seen["adjustment_invoice"] is not None and seen["refund_status"] != "pending":
            break
        await asyncio.sleep(0.1)
    assert seen["status"] == "refunded" and seen["decision_reason"].startswith("Camera lối vào")
    assert seen["refund_status"] == "succeeded"
    assert seen["adjustment_invoice"] is not None and "/r/" in seen["adjustment_invoice"]["url"]
    assert "evidence" not in seen
    twice = await client.post(
        f"/v1/operator/disputes/{dispute['id']}/decision",
        json={"decision": "reject", "reason": "again"},
        headers=sup,
    )
    assert twice.status_code == 409


async def test_dispute_rejected_with_its_reason_and_only_on_own_sessions(
    client: httpx.AsyncClient, idp: Idp, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup = await staff_headers(sessionmaker, lot.operator_id, "supervisor")
    plate = random_car_plate()
    headers = await driver_with_plate(client, idp, plate)
    other = await driver_with_plate(client, idp, random_car_plate())
    sid = (await client.post("/v1/gate/events", json=event("entry", plate), headers=lot.entry.headers)).json()[
        "session_id"
    ]
    body = {"session_id": sid, "kind": "wrong_plate", "reason": "Không phải xe của tôi."}
    r = await client.post("/v1/drivers/me/disputes", json=body, headers=other)
    assert r.status_code == 404
    assert (await client.post("/v1/drivers/me/disputes", json=body)).status_code == 401
    dispute = (await client.post("/v1/drivers/me/disputes", json=body, headers=headers)).json()
    assert (await client.get(f"/v1/drivers/me/disputes/{dispute['id']}", headers=other)).status_code == 404
    assert (await client.get("/v1/operator/disputes", headers=other)).status_code == 401
    r = await client.post(
        f"/v1/operator/disputes/{dispute['id']}/decision",
        json={"decision": "refund", "reason": "thử hoàn"},
        headers=sup,
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_refundable_payment"
    r = await client.post(
        f"/v1/operator/disputes/{dispute['id']}/decision",
        json={"decision": "reject", "reason": "Ảnh lối vào cho thấy đúng biển số."},
        headers=await staff_headers(sessionmaker, lot.operator_id, "operator"),
    )
    assert r.json()["status"] == "rejected"
    [seen] = (await client.get("/v1/drivers/me/disputes", headers=headers)).json()
    assert seen["status"] == "rejected" and seen["decision_reason"] == "Ảnh lối vào cho thấy đúng biển số."


async def test_ratings_and_problem_reports_reach_the_operator(
    client: httpx.AsyncClient, idp: Idp, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    desk = await staff_headers(sessionmaker, lot.operator_id, "operator")
    headers = await driver_with_plate(client, idp, random_car_plate())
    url = f"/v1/lots/{lot.code}/reports"
    r = await client.post(url, json={"kind": "rating", "stars": 4, "comment": "Sạch sẽ"}, headers=headers)
    assert r.status_code == 201 and r.json()["stars"] == 4
    assert (await client.post(url, json={"kind": "rating"}, headers=headers)).status_code == 422
    bad = await client.post(url, json={"kind": "barrier_broken", "stars": 2}, headers=headers)
    assert bad.status_code == 422
    r = await client.post(url, json={"kind": "cash_requested", "comment": "Đòi tiền mặt"}, headers=headers)
    assert r.status_code == 201
    cash = r.json()
    assert (await client.post(url, json={"kind": "barrier_broken"})).status_code == 401
    assert (await client.post("/v1/lots/NO-SUCH/reports", json={"kind": "other"}, headers=headers)).status_code == 404
    queue = (await client.get("/v1/operator/reports", headers=desk)).json()
    assert cash["id"] in {x["id"] for x in queue}
    assert all(x["kind"] != "rating" for x in queue)
    stranger = await staff_headers(sessionmaker, None, "admin")
    assert cash["id"] not in {x["id"] for x in (await client.get("/v1/operator/reports", headers=stranger)).json()}
    r = await client.post(f"/v1/operator/reports/{cash['id']}/ack", json={}, headers=stranger)
    assert r.status_code == 404, r.text
    r = await client.post(f"/v1/operator/reports/{cash['id']}/ack", json={}, headers=desk)
    assert r.json()["status"] == "acknowledged"
    queue = (await client.get("/v1/operator/reports", headers=desk)).json()
    assert cash["id"] not in {x["id"] for x in queue}
