"""Refund adjustments, company invoices, the public receipt (HTML, PDF, JSON) and the driver's list."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.drivers.auth import issue_token
from parking.invoices import service as invoice_service
from parking.invoices import xml as X
from parking.invoices.endpoints import router
from parking.invoices.verify import verify_day
from parking.kit.db import transaction
from parking.kit.errors import install_error_handlers
from parking.models import Driver, Invoice, Payment, Refund
from tests.factories import LotHandle
from tests.factories.invoices import paid

BASE = "http://receipts.test"


@pytest.fixture
async def api(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[httpx.AsyncClient]:
    """The invoice router on a bare app with the real database (the platform app mounts the same router)."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.parking = SimpleNamespace(sessionmaker=sessionmaker, settings=SimpleNamespace(public_base_url=BASE))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


async def make_driver(sm: async_sessionmaker[AsyncSession]) -> tuple[uuid.UUID, dict[str, str]]:
    async with transaction(sm) as db:
        d = Driver(
            id=uuid.uuid4(),
            email=f"{uuid.uuid4().hex[:8]}@example.vn",
            full_name="Nguyễn Văn A",
            password_hash="x",
        )
        db.add(d)
        await db.flush()
        token, _ = await issue_token(db, d.id, 1)
    return d.id, {"Authorization": f"Bearer {token}"}


def path_of(url: str) -> str:
    return url.removeprefix(BASE)


async def refund(sm: async_sessionmaker[AsyncSession], payment_id: uuid.UUID, amount: int) -> Invoice | None:
    async with transaction(sm) as db:
        r = Refund(
            id=uuid.uuid4(),
            payment_id=payment_id,
            amount_vnd=amount,
            reason="Khách bị tính thừa",
            actor="test",
            status="succeeded",
        )
        db.add(r)
        p = await db.get(Payment, payment_id)
        assert p is not None
        p.refunded_vnd += amount
        p.status = "refunded" if p.refunded_vnd == p.amount_vnd else "partially_refunded"
        await db.flush()
        return await invoice_service.on_refund(db, r.id)


async def test_refund_produces_a_linked_adjustment(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle
) -> None:
    orig = await paid(sessionmaker, lot, 60_000)
    adj = await refund(sessionmaker, orig.payment_id, 10_000)
    assert adj is not None
    assert adj.kind == "adjustment" and adj.related_invoice_id == orig.id and adj.seq == orig.seq + 1
    assert (adj.total_vnd, adj.net_vnd + adj.vat_vnd, adj.vat_rate_bp) == (-10_000, -10_000, orig.vat_rate_bp)
    hdon = X.from_bytes(adj.xml.encode())
    X.validate(hdon)
    assert hdon.findtext("DLHDon/TTChung/TTHDLQuan/SHDCLQuan") == str(orig.seq)
    assert hdon.findtext("DLHDon/NDHDon/TToan/TgTTTBSo") == "-10000"
    async with sessionmaker() as db:
        same = await db.get(Invoice, orig.id)
        assert same is not None and same.xml == orig.xml and same.total_vnd == 60_000  # never edited
        rep = await verify_day(db, datetime.now(X.VN_TZ).date())
        assert rep.clean, rep.to_dict()
    # the rest refunded later: a second adjustment, each refund exactly once
    adj2 = await refund(sessionmaker, orig.payment_id, 50_000)
    assert adj2 is not None and adj2.total_vnd == -50_000 and adj2.id != adj.id


async def test_public_receipt_html_pdf_json(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle, api: httpx.AsyncClient
) -> None:
    inv = await paid(sessionmaker, lot, 25_000)
    shown = invoice_service.receipt_display(BASE, inv)
    assert shown["url"] == f"{BASE}/r/{inv.mccqt}?k={invoice_service.lookup_key(inv.mccqt)}"
    r = await api.get(path_of(str(shown["url"])))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert inv.mccqt in page and "Hóa đơn giá trị gia tăng khởi tạo từ máy tính tiền" in page
    assert "25.000 ₫" in page and "23.148 ₫" in page and "1.852 ₫" in page and "<svg" in page
    pdf_href = re.search(r'href="(/r/[^"]+\.pdf\?k=[^"]+)"', page)
    assert pdf_href is not None
    r = await api.get(pdf_href.group(1))
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert r.headers["content-type"] == "application/pdf"
    r = await api.get(path_of(str(shown["qr_svg_url"])))
    assert r.status_code == 200 and r.text.lstrip().startswith("<")
    r = await api.get(f"/v1/invoices/{inv.mccqt}", params={"k": invoice_service.lookup_key(inv.mccqt)})
    body = r.json()
    assert (body["total_vnd"], body["net_vnd"], body["vat_vnd"], body["status"]) == (
        25_000,
        23_148,
        1_852,
        "issued",
    )
    # without the link's key, or with a made-up code, there is nothing to see
    for url in (
        f"/r/{inv.mccqt}",
        f"/r/{inv.mccqt}?k=AAAAAAAAAAAAAAAA",
        f"/v1/invoices/{inv.mccqt}",
        "/r/M1-26-ZZZZZ-00000000001?k=X",
        "/r/not-a-code",
    ):
        r = await api.get(url)
        assert r.status_code == 404 and r.json()["error"]["code"] == "invoice_not_found"


async def test_pdf_embeds_a_unicode_font(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle, api: httpx.AsyncClient
) -> None:
    from parking.invoices.render import find_font

    if find_font() is None:
        pytest.skip("no DejaVuSans.ttf on this machine: the PDF falls back to unaccented text (tested below)")
    inv = await paid(sessionmaker, lot, 25_000)
    r = await api.get(path_of(invoice_service.lookup_url(BASE, inv.mccqt, ".pdf")))
    assert b"/FontFile2" in r.content  # an embedded TrueType subset, so "Hóa đơn" keeps its marks


async def test_driver_lists_invoices_and_asks_for_a_company_invoice(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle, api: httpx.AsyncClient
) -> None:
    driver_id, auth = await make_driver(sessionmaker)
    first = await paid(sessionmaker, lot, 25_000, driver_id=driver_id)
    r = await api.get("/v1/drivers/me/invoices", headers=auth)
    assert r.status_code == 200
    assert [i["mccqt"] for i in r.json()["items"]] == [first.mccqt]
    assert (await api.get("/v1/drivers/me/invoices")).status_code == 401

    company = {"name": "Công ty TNHH ABC", "tax_code": "0312345678", "address": "12 Tràng Thi, Hà Nội"}
    r = await api.post(f"/v1/drivers/me/invoices/{first.mccqt}/company", json=company, headers=auth)
    assert r.status_code == 201, r.text
    rep = r.json()
    assert rep["kind"] == "replacement" and rep["related_mccqt"] == first.mccqt
    assert rep["buyer"] == company and rep["total_vnd"] == 25_000
    r = await api.post(f"/v1/drivers/me/invoices/{first.mccqt}/company", json=company, headers=auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_replaced"
    bad = await api.post(
        f"/v1/drivers/me/invoices/{first.mccqt}/company", json={**company, "tax_code": "12AB"}, headers=auth
    )
    assert bad.status_code == 422

    # saved details go on the next invoices automatically
    r = await api.put("/v1/drivers/me/invoice-details", json=company, headers=auth)
    assert r.status_code == 200
    second = await paid(sessionmaker, lot, 30_000, driver_id=driver_id)
    assert (second.buyer_name, second.buyer_tax_code) == (company["name"], company["tax_code"])
    assert X.read_view(X.from_bytes(second.xml.encode())).buyer["MST"] == "0312345678"
    items = (await api.get("/v1/drivers/me/invoices", headers=auth)).json()["items"]
    assert {i["mccqt"] for i in items} == {first.mccqt, second.mccqt, rep["mccqt"]}

    # someone else's invoice is invisible
    _, other = await make_driver(sessionmaker)
    r = await api.post(f"/v1/drivers/me/invoices/{second.mccqt}/company", json=company, headers=other)
    assert r.status_code == 404
    async with sessionmaker() as db:
        assert (await verify_day(db, datetime.now(X.VN_TZ).date())).clean
        n = (
            (
                await db.execute(
                    select(Invoice).where(Invoice.payment_id == first.payment_id, Invoice.kind == "original")
                )
            )
            .scalars()
            .all()
        )
        assert len(n) == 1
