"""Issuing cash-register e-invoices: one per confirmed payment, adjustments for refunds.

Called inside the caller's transaction (services never commit). The number is taken from the series
counter with a row lock, the HDon XML is built, and transmission is handed to the outbox, so the lane
gets its answer without waiting for the provider and nothing is lost if the process dies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

import structlog
from lxml import etree
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import vnplate
from parking.invoices import codes
from parking.invoices import xml as X
from parking.invoices.settings import get_invoice_settings
from parking.kit import outbox
from parking.kit.errors import AppError
from parking.ledger.repository import fee_recognised, receivable_outstanding
from parking.models import (
    PAID_STATUSES,
    Invoice,
    InvoiceBuyerProfile,
    InvoiceEvent,
    InvoiceEventStatus,
    InvoiceSeries,
    InvoiceStatus,
    Lot,
    MonthlyPass,
    Operator,
    ParkingSession,
    Payment,
    Refund,
)
from parking.payments import hooks
from parking.payments.settings import get_payment_settings
from parking.pricing.vat import VatTable, load_vat_table
from parking.settings import get_settings

log = structlog.get_logger("parking.invoices")

TOPIC_TRANSMIT = "invoice.transmit"
TOPIC_ISSUE = "invoice.issue"  # deferred issuing when the sale cannot be invoiced inside the payment
INVOICEABLE_PURPOSES = ("session", "debt", "pass")  # an 'orphan' payment is money without a sale
SESSION_PURPOSES = ("session", "debt")  # payments towards a parking session's fee
PAYMENT_METHOD_LABEL = {"linked": "Chuyển khoản (tài khoản liên kết)", "vietqr": "Chuyển khoản (VietQR)"}


class InvoiceConfigError(AppError):
    def __init__(self, message: str, details: dict[str, object] | None = None):
        super().__init__("invoice_config", message, 500, details)


@dataclass(frozen=True)
class BuyerDetails:
    """What a driver asks to have printed as the buyer (all optional, Decree 123 Art. 11.3)."""

    name: str | None = None
    tax_code: str | None = None
    address: str | None = None
    id_number: str | None = None
    phone: str | None = None

    def as_xml(self) -> X.Buyer | None:
        if not any((self.name, self.tax_code, self.address, self.id_number, self.phone)):
            return None
        return X.Buyer(self.name, self.tax_code, self.address, self.id_number, self.phone)


@lru_cache(maxsize=4)
def _vat_table(path: Path) -> VatTable:
    return load_vat_table(path)


def vat_table() -> VatTable:
    return _vat_table(get_settings().config_dir / "vat.toml")


def lookup_key(mccqt: str) -> str:
    """Short keyed MAC of the code, carried in the link so codes cannot be enumerated."""
    mac = hmac.new(get_invoice_settings().lookup_secret.encode(), mccqt.encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode()[:16]


def check_lookup_key(mccqt: str, key: str | None) -> bool:
    return key is not None and hmac.compare_digest(lookup_key(mccqt), key.upper())


def lookup_path(mccqt: str, suffix: str = "") -> str:
    return f"/r/{mccqt}{suffix}?k={lookup_key(mccqt)}"


def lookup_url(base_url: str, mccqt: str, suffix: str = "") -> str:
    """The link on the kiosk, the exit answer and the QR: ``{base}/r/{MCCQT}?k=...``."""
    return base_url.rstrip("/") + lookup_path(mccqt, suffix)


def receipt_display(base_url: str, inv: Invoice) -> dict[str, str | int]:
    """What the kiosk and the exit answer show: the code, the link (also the QR content) and the total."""
    return {
        "mccqt": inv.mccqt,
        "url": lookup_url(base_url, inv.mccqt),
        "qr": lookup_url(base_url, inv.mccqt),
        "qr_svg_url": lookup_url(base_url, inv.mccqt, "/qr.svg"),
        "total_vnd": inv.total_vnd,
    }


# --- numbering ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Numbered:
    series_id: uuid.UUID
    template: int
    year: int
    symbol: str
    series_code: str
    seq: int


async def take_number(db: AsyncSession, operator: Operator, issued_at: datetime) -> Numbered:
    """Next number of the operator's series for the GMT+7 year of ``issued_at``, in the caller's transaction.

    Gapless because the counter row and the invoice row commit or roll back together; concurrent
    payments of one operator queue on the counter's row lock until the earlier one commits, so this
    takes one round trip and the caller should commit soon after.
    """
    if not operator.invoice_series_code:
        raise InvoiceConfigError(
            f"operator {operator.code} has no tax-authority series code (invoice_series_code)",
            {"operator": operator.code},
        )
    year = issued_at.astimezone(X.VN_TZ).year
    bump = (
        update(InvoiceSeries)
        .where(InvoiceSeries.operator_id == operator.id, InvoiceSeries.year == year)
        .values(next_seq=InvoiceSeries.next_seq + 1)
        .returning(
            InvoiceSeries.id,
            InvoiceSeries.template,
            InvoiceSeries.year,
            InvoiceSeries.symbol,
            InvoiceSeries.series_code,
            InvoiceSeries.next_seq - 1,
        )
    )
    row = (await db.execute(bump)).one_or_none()
    if row is None:  # first invoice of the year: create the counter (a racing creator is harmless)
        await db.execute(
            insert(InvoiceSeries)
            .values(
                id=uuid.uuid4(),
                operator_id=operator.id,
                year=year,
                template=get_invoice_settings().template,
                symbol=codes.invoice_symbol(year, operator.invoice_symbol_letters),
                series_code=operator.invoice_series_code,
                next_seq=1,
            )
            # No conflict target: a racing creator can collide on either unique key ((operator_id, year) or
            # (series_code, year, template)); naming only the first let the second raise under load.
            .on_conflict_do_nothing()
        )
        row = (await db.execute(bump)).one()
    return Numbered(row[0], int(row[1]), int(row[2]), row[3], row[4], int(row[5]))


# --- issuing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sale:
    operator: Operator
    line_info: dict[str, str]
    service_day: date  # the VAT rate is the one in force on this (GMT+7) day
    session_id: uuid.UUID | None
    plate: str | None
    line_name: str


async def _sale_of(db: AsyncSession, payment: Payment, issued_at: datetime) -> _Sale:
    settings = get_invoice_settings()
    info: dict[str, str] = {}
    lot: Lot | None = None
    plate: str | None = None
    vclass: str | None = None
    service_end = issued_at
    name = settings.line_name
    if payment.purpose == "pass":
        mp = (await db.execute(select(MonthlyPass).where(MonthlyPass.payment_id == payment.id))).scalar_one_or_none()
        if mp is not None:
            lot = await db.get(Lot, mp.lot_id)
            plate, vclass = mp.plate, mp.vehicle_class
            name = "Vé tháng trông giữ xe"
            info["HieuLuc"] = f"{X.vn_datetime(mp.valid_from)} - {X.vn_datetime(mp.valid_until)}"
    elif payment.session_id is not None:
        ps = await db.get(ParkingSession, payment.session_id)
        if ps is not None:
            lot = await db.get(Lot, ps.lot_id)
            plate, vclass = ps.plate or ps.exit_plate, ps.vehicle_class
            if ps.entry_at is not None:
                info["TGVao"] = X.vn_datetime(ps.entry_at)
            if ps.exit_at is not None:
                info["TGRa"] = X.vn_datetime(ps.exit_at)
                service_end = ps.exit_at
            if ps.tariff_id:
                info["BangGia"] = f"{ps.tariff_id} v{ps.tariff_version}" if ps.tariff_version else ps.tariff_id
    if lot is None:
        raise InvoiceConfigError("cannot find the lot this payment belongs to", {"payment_id": str(payment.id)})
    operator = await db.get(Operator, lot.operator_id)
    assert operator is not None
    _check_seller(operator)
    # The one plate format (vnplate.display): the vehicle class picks the layout of plates that fit both.
    shown = vnplate.display(plate, vclass) if plate else None
    info = {"BaiXe": f"{lot.name} ({lot.code})", **({"BienSo": shown} if shown else {}), **info}
    return _Sale(operator, info, service_end.astimezone(X.VN_TZ).date(), payment.session_id, plate, name)


def _check_seller(op: Operator) -> None:
    """Refuse, with a clear message, an operator whose data cannot make a valid invoice."""
    problems = []
    if not re.fullmatch(r"[0-9]{10}(-[0-9]{3})?", op.tax_code or ""):
        problems.append("tax_code must be an MST (10 digits, or 10-3)")
    if not (op.name or "").strip() or not (op.address or "").strip():
        problems.append("name and address are printed on every invoice")
    if not op.invoice_series_code or not re.fullmatch(r"[A-Z0-9]{5}", op.invoice_series_code):
        problems.append("invoice_series_code must be the 5 characters issued by the tax authority")
    if not re.fullmatch(r"[A-Z]{2}", op.invoice_symbol_letters or ""):
        problems.append("invoice_symbol_letters must be two upper-case letters")
    if problems:
        raise InvoiceConfigError(
            f"operator {op.code} cannot issue invoices: " + "; ".join(problems),
            {"operator": op.code, "problems": problems},
        )


async def _insert(
    db: AsyncSession,
    *,
    kind: str,
    payment: Payment,
    sale: _Sale,
    issued_at: datetime,
    total_vnd: int,
    rate_bp: int,
    buyer: BuyerDetails | None,
    related: Invoice | None = None,
    related_note: str = "",
    refund_id: uuid.UUID | None = None,
) -> Invoice:
    settings = get_invoice_settings()
    op = sale.operator
    rel = None
    if related is not None:
        rel_series = await db.get(InvoiceSeries, related.series_id)
        assert rel_series is not None
        rel = X.Related(
            rel_series.template,
            rel_series.symbol,
            related.seq,
            related.issued_at.astimezone(X.VN_TZ).date(),
            related_note,
        )
    # Everything that reads comes before this: from here to the caller's commit the counter is locked.
    num = await take_number(db, op, issued_at)
    seq = num.seq
    mccqt = codes.format_mccqt(num.template, num.year, num.series_code, seq)
    line = X.Line(sale.line_name, settings.line_unit, total_vnd, rate_bp, sale.line_info)
    doc = X.InvoiceDoc(
        template=num.template,
        symbol=num.symbol,
        number=seq,
        issued_at=issued_at,
        mccqt=mccqt,
        seller=X.Party(op.name, op.tax_code, op.address),
        lines=[line],
        buyer=buyer.as_xml() if buyer else None,
        payment_method=PAYMENT_METHOD_LABEL.get(payment.method, "Chuyển khoản"),
        related=rel,
    )
    hdon = X.build_hdon(doc)
    X.validate(hdon)  # never store or send an invoice our own schema refuses
    split = line.split
    b = buyer or BuyerDetails()
    inv = Invoice(
        id=uuid.uuid4(),
        kind=kind,
        series_id=num.series_id,
        seq=seq,
        mccqt=mccqt,
        operator_id=op.id,
        payment_id=payment.id,
        refund_id=refund_id,
        related_invoice_id=related.id if related else None,
        session_id=sale.session_id,
        driver_id=payment.driver_id,
        plate=sale.plate,
        issued_at=issued_at,
        total_vnd=split.total_vnd,
        net_vnd=split.net_vnd,
        vat_vnd=split.vat_vnd,
        vat_rate_bp=rate_bp,
        buyer_name=b.name,
        buyer_tax_code=b.tax_code,
        buyer_address=b.address,
        buyer_id_number=b.id_number,
        buyer_phone=b.phone,
        xml=X.to_bytes(hdon).decode("utf-8"),
        mtdiep=X.new_mtdiep(settings.sender_code),
        status=InvoiceStatus.ISSUED,
        attempts=0,
    )
    db.add(inv)
    await db.flush()
    db.add(InvoiceEvent(invoice_id=inv.id, status=InvoiceEventStatus.ISSUED, detail={"mccqt": mccqt, "kind": kind}))
    await outbox.enqueue(db, TOPIC_TRANSMIT, {"invoice_id": str(inv.id)}, key=f"{TOPIC_TRANSMIT}:{inv.id}")
    return inv


async def receipt_url_for_session(db: AsyncSession, session_id: uuid.UUID, base_url: str) -> str | None:
    """The lookup link of the latest original invoice of a session's payments (kiosk, exit answer)."""
    mccqt = (
        await db.execute(
            select(Invoice.mccqt)
            .join(Payment, Payment.id == Invoice.payment_id)
            .where(Payment.session_id == session_id, Invoice.kind == "original")
            .order_by(Invoice.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return lookup_url(base_url, mccqt) if mccqt else None


async def original_for_session(db: AsyncSession, session_id: uuid.UUID) -> Invoice | None:
    return (
        await db.execute(select(Invoice).where(Invoice.session_id == session_id, Invoice.kind == "original"))
    ).scalar_one_or_none()


async def original_for_payment(db: AsyncSession, payment_id: uuid.UUID) -> Invoice | None:
    return (
        await db.execute(select(Invoice).where(Invoice.payment_id == payment_id, Invoice.kind == "original"))
    ).scalar_one_or_none()


async def on_payment_confirmed(
    db: AsyncSession, payment_id: uuid.UUID, buyer: BuyerDetails | None = None, *, defer_on_error: bool = True
) -> Invoice | None:
    """Issue the payment's invoice in the caller's transaction (idempotent: a second call returns it).

    Call it last in the confirming transaction: from here to the commit the operator's series counter
    is locked. Returns None for payments that are not a sale ('orphan' money awaiting a match or refund)
    and when the sale cannot be invoiced yet (operator without a series code, a pass not yet linked):
    then an ``invoice.issue`` outbox message retries later, so the payment itself never fails on it and
    ``parking invoices verify`` shows the payment until its invoice exists.
    """
    try:
        # A savepoint, so a refusal after the number was taken also gives the number back (no gap).
        async with db.begin_nested():
            return await _issue_original(db, payment_id, buyer)
    except IntegrityError as e:
        if "uq_invoices_one_original_per_session" not in str(e):
            raise
        # Another payment of the same session, confirmed concurrently, invoiced the sale first.
        return None
    except (InvoiceConfigError, etree.DocumentInvalid) as e:
        if not defer_on_error:
            raise
        log.error("invoice.deferred", payment_id=str(payment_id), error=str(e))
        await outbox.enqueue(db, TOPIC_ISSUE, {"payment_id": str(payment_id)}, key=f"{TOPIC_ISSUE}:{payment_id}")
        return None


async def _issue_original(db: AsyncSession, payment_id: uuid.UUID, buyer: BuyerDetails | None) -> Invoice | None:
    existing = await original_for_payment(db, payment_id)
    if existing is not None:
        return existing
    payment = await db.get(Payment, payment_id)
    if payment is None:
        raise AppError("payment_not_found", "No such payment.", 404, {"payment_id": str(payment_id)})
    if payment.status not in PAID_STATUSES:
        raise AppError(
            "payment_not_confirmed",
            "Only a confirmed payment gets an invoice.",
            409,
            {"payment_id": str(payment_id), "status": payment.status},
        )
    if payment.purpose not in INVOICEABLE_PURPOSES:
        return None
    total = payment.amount_vnd
    if payment.session_id is not None and payment.purpose in SESSION_PURPOSES:
        # The invoice is for the session's fee, once, by the payment that settles it: a part payment waits
        # for the rest, and money beyond the fee (or a second transfer) is a credit, never a parking sale.
        if await original_for_session(db, payment.session_id) is not None:
            return None
        if await receivable_outstanding(db, payment.session_id) > 0:
            return None
        fee = await fee_recognised(db, payment.session_id)  # the ledger's fee; the session row's if none
        if fee is None:
            ps = await db.get(ParkingSession, payment.session_id)
            fee = ps.fee_vnd if ps is not None else None
        if fee is not None:
            total = fee
    issued_at = payment.confirmed_at or datetime.now(UTC)
    sale = await _sale_of(db, payment, issued_at)
    rate = vat_table().rate_on(sale.service_day).rate_bp
    if buyer is None:
        buyer = await saved_buyer(db, payment.driver_id)
    return await _insert(
        db,
        kind="original",
        payment=payment,
        sale=sale,
        issued_at=issued_at,
        total_vnd=total,
        rate_bp=rate,
        buyer=buyer,
    )


async def on_refund(db: AsyncSession, refund_id: uuid.UUID) -> Invoice | None:
    """Adjustment invoice (negative amounts) linked to the original; the original is never touched.

    Idempotent per refund. Returns None when the refunded payment had no invoice (not a sale).
    """
    existing = (await db.execute(select(Invoice).where(Invoice.refund_id == refund_id))).scalar_one_or_none()
    if existing is not None:
        return existing
    refund = await db.get(Refund, refund_id)
    if refund is None:
        raise AppError("refund_not_found", "No such refund.", 404, {"refund_id": str(refund_id)})
    revenue_vnd = refund.amount_vnd - refund.credit_vnd
    if revenue_vnd <= 0:
        return None  # only money beyond the fee went back: the parking sale is unchanged
    original = await original_for_payment(db, refund.payment_id)
    if original is None:
        return None
    # The adjustment corrects the invoice the driver currently holds (a replacement if one was issued).
    current = await effective_invoice(db, original)
    payment = await db.get(Payment, refund.payment_id)
    assert payment is not None
    issued_at = datetime.now(UTC)
    sale = await _sale_of(db, payment, original.issued_at)
    buyer = _buyer_of(current)
    return await _insert(
        db,
        kind="adjustment",
        payment=payment,
        sale=sale,
        issued_at=issued_at,
        total_vnd=-revenue_vnd,
        rate_bp=original.vat_rate_bp,  # the rate of the supply being corrected, not today's
        buyer=buyer,
        related=current,
        related_note=f"Điều chỉnh giảm do hoàn tiền: {refund.reason}"[:255],
        refund_id=refund.id,
    )


async def request_company_invoice(db: AsyncSession, original: Invoice, buyer: BuyerDetails) -> Invoice:
    """A driver asks for the buyer's details on an invoice already issued: a replacement invoice.

    The original is never edited; the replacement carries the same amounts and the buyer, and points
    at the original (TTHDLQuan, TCHDon = replacement). One replacement per invoice.
    """
    if original.kind != "original":
        raise AppError("not_replaceable", "Only an original invoice can be replaced for buyer details.", 409)
    if buyer.as_xml() is None:
        raise AppError("buyer_required", "Give at least the buyer's name and tax code.", 422)
    prior = (
        await db.execute(
            select(Invoice).where(Invoice.related_invoice_id == original.id, Invoice.kind == "replacement")
        )
    ).scalar_one_or_none()
    if prior is not None:
        raise AppError("already_replaced", "This invoice already has a company invoice.", 409, {"mccqt": prior.mccqt})
    has_adjustment = (
        await db.execute(
            select(Invoice.id).where(Invoice.related_invoice_id == original.id, Invoice.kind == "adjustment")
        )
    ).first()
    if has_adjustment is not None:
        raise AppError("adjusted", "A refunded invoice cannot be replaced; ask the operator.", 409)
    payment = await db.get(Payment, original.payment_id)
    assert payment is not None
    sale = await _sale_of(db, payment, original.issued_at)
    return await _insert(
        db,
        kind="replacement",
        payment=payment,
        sale=sale,
        issued_at=datetime.now(UTC),
        total_vnd=original.total_vnd,
        rate_bp=original.vat_rate_bp,
        buyer=buyer,
        related=original,
        related_note="Thay thế để ghi thông tin người mua",
    )


async def effective_invoice(db: AsyncSession, original: Invoice) -> Invoice:
    rep = (
        await db.execute(
            select(Invoice).where(Invoice.related_invoice_id == original.id, Invoice.kind == "replacement")
        )
    ).scalar_one_or_none()
    return rep or original


def _buyer_of(inv: Invoice) -> BuyerDetails | None:
    b = BuyerDetails(inv.buyer_name, inv.buyer_tax_code, inv.buyer_address, inv.buyer_id_number, inv.buyer_phone)
    return b if b.as_xml() is not None else None


async def saved_buyer(db: AsyncSession, driver_id: uuid.UUID | None) -> BuyerDetails | None:
    """The company details a driver saved for future invoices, if any."""
    if driver_id is None:
        return None
    p = await db.get(InvoiceBuyerProfile, driver_id)
    if p is None:
        return None
    b = BuyerDetails(p.name, p.tax_code, p.address, p.id_number, p.phone)
    return b if b.as_xml() is not None else None


async def get_by_mccqt(db: AsyncSession, mccqt: str) -> Invoice:
    if not codes.is_mccqt(mccqt):
        raise AppError("invoice_not_found", "No invoice has this code.", 404, {"mccqt": mccqt})
    inv = (await db.execute(select(Invoice).where(Invoice.mccqt == mccqt))).scalar_one_or_none()
    if inv is None:
        raise AppError("invoice_not_found", "No invoice has this code.", 404, {"mccqt": mccqt})
    return inv


# --- registered with payments (parking.payments.hooks): called inside the confirming transaction -------


@hooks.on_payment_confirmed("invoices")
async def _invoice_confirmed_payment(db: AsyncSession, payment_id: uuid.UUID, at_exit: bool) -> None:
    settings = get_payment_settings()
    if not settings.issue_invoices:
        return
    if at_exit and settings.invoice_at_exit_via_outbox:
        # Same transaction as the confirmation, so the invoice cannot be lost; issued by the outbox worker.
        await outbox.enqueue(db, TOPIC_ISSUE, {"payment_id": str(payment_id)}, key=f"{TOPIC_ISSUE}:{payment_id}")
        return
    await on_payment_confirmed(db, payment_id)


@hooks.on_refund_succeeded("invoices")
async def _invoice_refund(db: AsyncSession, refund_id: uuid.UUID) -> None:
    if get_payment_settings().issue_invoices:
        # An issued invoice is never edited: the refund gets an adjustment invoice linked to it.
        await on_refund(db, refund_id)
