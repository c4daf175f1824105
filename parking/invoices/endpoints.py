"""Receipt lookup (public, by code + link key), the JSON invoice, and the driver's invoices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

import parking.invoices.tasks  # noqa: F401  (registers the outbox handlers when the router is mounted)
from parking.drivers.auth import CurrentDriver
from parking.invoices import render
from parking.invoices import repository as invoices_repo
from parking.invoices import service as invoice_service
from parking.invoices import xml as X
from parking.invoices.schemas import BuyerIn, CompanyInvoiceIn, InvoiceList, InvoiceOut
from parking.kit.deps import DB
from parking.kit.errors import AppError
from parking.models import Invoice, InvoiceBuyerProfile, InvoiceSeries, ParkingSession

router = APIRouter(tags=["invoices"])
Key = Annotated[str | None, Query(alias="k", description="Key from the receipt link")]


def _base(request: Request) -> str:
    return str(request.app.state.parking.settings.public_base_url)


async def _public(db: DB, mccqt: str, k: str | None) -> Invoice:
    inv = await invoice_service.get_by_mccqt(db, mccqt)
    if not invoice_service.check_lookup_key(mccqt, k):
        # Same answer as an unknown code: the link key is what makes a receipt visible.
        raise AppError("invoice_not_found", "No invoice has this code.", 404, {"mccqt": mccqt})
    return inv


async def _out(db: DB, base: str, inv: Invoice) -> InvoiceOut:
    series = await db.get(InvoiceSeries, inv.series_id)
    assert series is not None
    related = await db.get(Invoice, inv.related_invoice_id) if inv.related_invoice_id else None
    buyer = {
        k: v
        for k, v in {
            "name": inv.buyer_name,
            "tax_code": inv.buyer_tax_code,
            "address": inv.buyer_address,
            "id_number": inv.buyer_id_number,
            "phone": inv.buyer_phone,
        }.items()
        if v
    }
    return InvoiceOut(
        mccqt=inv.mccqt,
        kind=inv.kind,
        symbol=f"{series.template}{series.symbol}",
        number=inv.seq,
        issued_at=inv.issued_at,
        total_vnd=inv.total_vnd,
        net_vnd=inv.net_vnd,
        vat_vnd=inv.vat_vnd,
        vat_rate_bp=inv.vat_rate_bp,
        status=inv.status,
        status_reason=inv.status_reason,
        plate=inv.plate,
        buyer=buyer,
        related_mccqt=related.mccqt if related else None,
        url=invoice_service.lookup_url(base, inv.mccqt),
        pdf_url=invoice_service.lookup_url(base, inv.mccqt, ".pdf"),
    )


# Registered before /r/{mccqt}: a path parameter would also match "CODE.pdf".
@router.get("/r/{mccqt}.pdf", summary="Receipt as PDF", response_class=Response)
async def receipt_pdf(mccqt: str, db: DB, request: Request, k: Key = None) -> Response:
    inv = await _public(db, mccqt, k)
    view = X.read_view(X.from_bytes(inv.xml.encode("utf-8")))
    pdf = render.render_pdf(view, invoice_service.lookup_url(_base(request), mccqt), inv.status)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{mccqt}.pdf"'},
    )


@router.get("/r/{mccqt}/qr.svg", summary="QR of the receipt link", response_class=Response)
async def receipt_qr(mccqt: str, db: DB, request: Request, k: Key = None) -> Response:
    await _public(db, mccqt, k)
    return Response(render.qr_svg(invoice_service.lookup_url(_base(request), mccqt)), media_type="image/svg+xml")


@router.get("/r/{mccqt}", summary="Receipt lookup page", response_class=HTMLResponse)
async def receipt_page(mccqt: str, db: DB, request: Request, k: Key = None) -> HTMLResponse:
    inv = await _public(db, mccqt, k)
    view = X.read_view(X.from_bytes(inv.xml.encode("utf-8")))
    base = _base(request)
    fee_proof = None
    if inv.session_id is not None and inv.kind == "original":
        # The receipt's holder already sees the plate and times; the proof adds how the fee was made.
        from parking.drivers import proof

        sess = await db.get(ParkingSession, inv.session_id)
        if sess is not None and sess.status == "closed":
            fee_proof = await proof.fee_proof(db, getattr(request.app.state.parking, "tariffs", None), sess)
    html = render.render_html(
        view,
        invoice_service.lookup_url(base, mccqt),
        inv.status,
        invoice_service.lookup_path(mccqt, ".pdf"),
        fee_proof,
    )
    return HTMLResponse(html)


@router.get("/v1/invoices/{mccqt}", response_model=InvoiceOut, summary="Invoice as JSON")
async def invoice_json(mccqt: str, db: DB, request: Request, k: Key = None) -> InvoiceOut:
    return await _out(db, _base(request), await _public(db, mccqt, k))


@router.get("/v1/drivers/me/invoices", response_model=InvoiceList, summary="My invoices, newest first")
async def my_invoices(
    db: DB, driver: CurrentDriver, request: Request, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> InvoiceList:
    rows = await invoices_repo.of_driver(db, driver.id, limit)
    base = _base(request)
    return InvoiceList(items=[await _out(db, base, i) for i in rows])


@router.put(
    "/v1/drivers/me/invoice-details",
    response_model=BuyerIn,
    summary="Buyer details printed on my future invoices (company invoice)",
)
async def save_buyer(body: BuyerIn, db: DB, driver: CurrentDriver) -> BuyerIn:
    prof = await db.get(InvoiceBuyerProfile, driver.id)
    if prof is None:
        prof = InvoiceBuyerProfile(driver_id=driver.id)
        db.add(prof)
    prof.name, prof.tax_code, prof.address = body.name, body.tax_code, body.address
    prof.id_number, prof.phone = body.id_number, body.phone
    return body


@router.post(
    "/v1/drivers/me/invoices/{mccqt}/company",
    response_model=InvoiceOut,
    status_code=201,
    summary="Company invoice for an issued receipt (a replacement invoice with the buyer)",
)
async def company_invoice(
    mccqt: str, body: CompanyInvoiceIn, db: DB, driver: CurrentDriver, request: Request
) -> InvoiceOut:
    original = await invoice_service.get_by_mccqt(db, mccqt)
    if original.driver_id != driver.id:
        raise AppError("invoice_not_found", "No invoice has this code.", 404, {"mccqt": mccqt})
    buyer = invoice_service.BuyerDetails(body.name, body.tax_code, body.address, body.id_number, body.phone)
    rep = await invoice_service.request_company_invoice(db, original, buyer)
    out = await _out(db, _base(request), rep)
    return out
