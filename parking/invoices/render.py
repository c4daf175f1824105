"""The driver's receipt: HTML lookup page and downloadable PDF, both with a QR of the lookup link.

Rendered from the issued XML (xml.read_view) so the page shows exactly what went to the tax authority.
"""

from __future__ import annotations

import io
import os
import re
import unicodedata
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

import matplotlib
import segno
from fpdf import FPDF

from parking.invoices.xml import ReceiptView
from parking.kit import money

# fpdf2 ships no Unicode TTF; matplotlib (a dependency, also for report charts) ships DejaVu Sans, which
# covers Vietnamese, so every install has it. PARKING_INVOICE_FONT overrides; system copies are fallbacks.
# Without any, the PDF falls back to a core font with diacritics stripped, and says so in the document.
_FONT_CANDIDATES = [
    str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"),
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/Library/Fonts/DejaVuSans.ttf",
]

INFO_LABELS = {
    "BaiXe": "Bãi xe",
    "BienSo": "Biển số",
    "TGVao": "Giờ vào",
    "TGRa": "Giờ ra",
    "BangGia": "Bảng giá",
}
BUYER_LABELS = {
    "Ten": "Tên",
    "MST": "Mã số thuế",
    "DChi": "Địa chỉ",
    "CCCDan": "CCCD",
    "SDThoai": "Điện thoại",
}
STATUS_LABELS = {
    "issued": "Đã cấp mã, đang gửi cơ quan thuế",
    "sent": "Đã gửi cơ quan thuế",
    "accepted": "Cơ quan thuế đã tiếp nhận",
    "rejected": "Cơ quan thuế từ chối",
}


def find_font() -> Path | None:
    env = os.environ.get("PARKING_INVOICE_FONT")
    for p in [env, *_FONT_CANDIDATES]:
        if p and Path(p).is_file():
            return Path(p)
    return None


def vnd(amount: int) -> str:
    return money.vnd(amount, symbol="₫")


def qr_svg(url: str) -> str:
    return str(segno.make(url, error="m").svg_inline(scale=4))


def qr_png(url: str) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=6, border=2)
    return buf.getvalue()


_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::\d{2})?)?")


def local(text: str) -> str:
    """The XML's dates and GMT+7 times (``2026-12-01T10:18:23``) as people read them: ``01/12/2026 10:18``."""

    def one(m: re.Match[str]) -> str:
        y, mo, d, h, mi = m.groups()
        return f"{d}/{mo}/{y} {h}:{mi}" if h else f"{d}/{mo}/{y}"

    return _ISO.sub(one, text)


def proof_section(proof: dict[str, Any]) -> str:
    """The fee proof of the receipt's session (parking.drivers.proof): reads, tariff, each rule's line."""
    e = escape
    reads = []
    for side, label in (("entry", "Vào"), ("exit", "Ra")):
        ev = proof.get(side)
        if ev:
            reads.append(
                f"<div>{label}: {e(str(ev.get('captured_at_local') or ''))} · làn {e(str(ev.get('lane') or ''))}"
                f" · đọc biển {e(str(ev.get('plate_read') or '—'))}"
                f" (độ tin cậy {round(float(ev.get('confidence') or 0) * 100)} %)</div>"
            )
    rows = "".join(
        f"<tr><td>{e(ln['name_vi'])}<div class='muted'>{e(ln['name_en'])}</div></td>"
        f"<td class='num'>{ln['quantity']} {e(ln['unit_vi'])}</td><td class='num'>{e(vnd(ln['unit_price_vnd']))}</td>"
        f"<td class='num'>{e(vnd(ln['amount_vnd']))}</td></tr>"
        for ln in proof.get("lines", [])
    )
    tariff = proof.get("tariff") or {}
    dispute = f"/m/sessions/{e(str(proof.get('session_id')))}"
    return (
        "<h2>Cách tính phí</h2>"
        + "".join(reads)
        + f"<div class='muted'>Biểu giá {e(str(tariff.get('tariff_id') or ''))} phiên bản "
        f"{e(str(tariff.get('version') or ''))}</div>"
        "<table id='fee-proof'><tr><th>Khoản</th><th class='num'>SL</th><th class='num'>Đơn giá</th>"
        f"<th class='num'>Thành tiền</th></tr>{rows}</table>"
        f"<p><a href='{dispute}'>Khiếu nại lượt gửi này</a> (đăng nhập iHanoi)</p>"
    )


def render_html(
    view: ReceiptView, lookup_url: str, status: str, pdf_url: str, proof: dict[str, Any] | None = None
) -> str:
    e = escape
    line_rows = []
    for ln in view.lines:
        details = "".join(
            f"<div class='muted'>{e(INFO_LABELS.get(k, k))}: {e(local(v))}</div>" for k, v in ln.info.items()
        )
        line_rows.append(
            f"<tr><td>{e(ln.name)}{details}</td><td>{e(ln.unit)}</td><td class='num'>{ln.quantity}</td>"
            f"<td class='num'>{e(vnd(ln.unit_price_vnd))}</td>"
            f"<td class='num'>{e(vnd(ln.net_vnd))}</td><td>{e(ln.rate)}</td></tr>"
        )
    buyer = (
        "".join(f"<div>{e(BUYER_LABELS.get(k, k))}: {e(v)}</div>" for k, v in view.buyer.items())
        or "<div class='muted'>Người mua không yêu cầu ghi thông tin</div>"
    )
    related = ""
    if view.related:
        related = (
            "<p class='adj'>Hóa đơn điều chỉnh cho hóa đơn "
            f"{e(view.related.get('KHMSHDCLQuan', ''))}{e(view.related.get('KHHDCLQuan', ''))} "
            f"số {e(view.related.get('SHDCLQuan', ''))} ngày {e(view.related.get('NLHDCLQuan', ''))}: "
            f"{e(view.related.get('GChu', ''))}</p>"
        )
    # Until the tax authority's answer is in, the page refreshes itself so the driver sees it arrive.
    refresh = '\n<meta http-equiv="refresh" content="3">' if status in ("issued", "sent") else ""
    rates = "".join(
        f"<tr><td>Thuế suất {e(r)}</td><td class='num'>{e(vnd(n))}</td><td class='num'>{e(vnd(t))}</td></tr>"
        for r, n, t in view.rates
    )
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">{refresh}
<title>{e(view.title)} {e(view.mccqt)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:42rem;margin:1rem auto;padding:0 1rem}}
table{{width:100%;border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:.3rem;text-align:left}}
.num{{text-align:right}}.muted{{color:#666;font-size:.9em}}.total{{font-weight:bold;font-size:1.2em}}
.adj{{background:#fff3cd;padding:.5rem}}</style></head>
<body>
<h1>{e(view.title)}</h1>
<p>Ký hiệu <b>{e(view.printed_symbol)}</b> · Số <b>{view.number}</b> · Ngày {e(local(view.issued_on))}
<br>Mã của cơ quan thuế: <b id="mccqt">{e(view.mccqt)}</b>
<br>Trạng thái: <span id="status" data-status="{e(status)}">{e(STATUS_LABELS.get(status, status))}</span></p>
{related}
<h2>Đơn vị bán</h2><div>{e(view.seller.name)}</div><div>Mã số thuế: {e(view.seller.tax_code)}</div>
<div>Địa chỉ: {e(view.seller.address)}</div>
<h2>Người mua</h2>{buyer}
<h2>Dịch vụ</h2>
<table><tr><th>Tên</th><th>ĐVT</th><th class="num">SL</th><th class="num">Đơn giá</th>
<th class="num">Thành tiền chưa thuế</th><th>Thuế suất</th></tr>
{"".join(line_rows)}</table>
<table>{rates}
<tr><td>Cộng tiền chưa thuế</td><td class="num" colspan="2">{e(vnd(view.net_vnd))}</td></tr>
<tr><td>Tiền thuế GTGT</td><td class="num" colspan="2">{e(vnd(view.vat_vnd))}</td></tr>
<tr class="total"><td>Tổng cộng thanh toán</td>
<td class="num" colspan="2" id="total">{e(vnd(view.total_vnd))}</td></tr>
</table>
<p class="muted">{e(view.total_words)}</p>
<p>Hình thức thanh toán: <b id="payment-method">{e(view.payment_method)}</b> · Lập lúc
<span id="issued-at">{e(local(view.issued_at))}</span> (giờ Việt Nam)</p>
{proof_section(proof) if proof else ""}
<p><a href="{e(pdf_url)}">Tải PDF</a></p>
<div aria-label="QR tra cứu">{qr_svg(lookup_url)}</div>
<p class="muted">Tra cứu: <a href="{e(lookup_url)}">{e(lookup_url)}</a></p>
</body></html>"""


def _ascii(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D").replace("₫", "VND")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def render_pdf(view: ReceiptView, lookup_url: str, status: str) -> bytes:
    pdf = FPDF(format=(148, 210))  # A5 in mm
    pdf.set_auto_page_break(True, margin=10)
    pdf.add_page()
    font = find_font()
    t: Callable[[str], str]
    if font is not None:
        pdf.add_font("receipt", fname=str(font))
        pdf.set_font("receipt", size=10)
        t = str
    else:
        pdf.set_font("helvetica", size=10)
        t = _ascii  # core fonts are Latin-1 only

    w = pdf.epw

    def row(text: str, size: int = 10, align: str = "L") -> None:
        pdf.set_font_size(size)
        pdf.multi_cell(w, 5, t(text), align=align, new_x="LMARGIN", new_y="NEXT")

    row(view.title.upper(), 12, "C")
    row(f"Ký hiệu {view.printed_symbol} - Số {view.number} - Ngày {local(view.issued_on)}", 9, "C")
    row(f"Mã của cơ quan thuế: {view.mccqt}", 9, "C")
    row(f"Trạng thái: {STATUS_LABELS.get(status, status)}", 8, "C")
    if view.related:
        row(
            "Điều chỉnh cho hóa đơn "
            f"{view.related.get('KHMSHDCLQuan', '')}{view.related.get('KHHDCLQuan', '')}"
            f" số {view.related.get('SHDCLQuan', '')}: {view.related.get('GChu', '')}",
            9,
        )
    pdf.ln(2)
    row(f"Đơn vị bán: {view.seller.name}")
    row(f"MST: {view.seller.tax_code}")
    row(f"Địa chỉ: {view.seller.address}")
    for k, v in view.buyer.items():
        row(f"Người mua - {BUYER_LABELS.get(k, k)}: {v}")
    pdf.ln(2)
    for ln in view.lines:
        row(f"{ln.name}")
        row(
            f"   SL {ln.quantity} {ln.unit} x đơn giá {vnd(ln.unit_price_vnd)} = {vnd(ln.net_vnd)} chưa thuế,"
            f" thuế suất {ln.rate}",
            9,
        )
        for k, v in ln.info.items():
            row(f"   {INFO_LABELS.get(k, k)}: {local(v)}", 9)
    pdf.ln(2)
    row(f"Cộng tiền chưa thuế: {vnd(view.net_vnd)}")
    row(f"Tiền thuế GTGT: {vnd(view.vat_vnd)}")
    row(f"Tổng cộng thanh toán: {vnd(view.total_vnd)}", 12)
    row(view.total_words, 9)
    row(f"Hình thức thanh toán: {view.payment_method}", 9)
    row(f"Lập lúc: {local(view.issued_at)} (giờ Việt Nam)", 9)
    if font is None:
        row("(Font Unicode không có trên máy: chữ không dấu)", 7)
    pdf.ln(2)
    pdf.image(io.BytesIO(qr_png(lookup_url)), x=pdf.l_margin, w=30)
    row(f"Tra cứu: {lookup_url}", 8)
    return bytes(pdf.output())
