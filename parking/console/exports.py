"""Revenue report: the table and charts of the finance page, and its CSV / XLSX / PDF exports."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date
from typing import Any

from fpdf import FPDF
from openpyxl import Workbook

from parking.invoices.render import find_font

COLUMNS = {
    "vi": ["Ngày", "Bãi", "Kênh thanh toán", "Loại xe", "Số giao dịch", "Thu (₫)", "Hoàn (₫)", "Thực thu (₫)"],
    "en": ["Day", "Lot", "Provider", "Vehicle class", "Payments", "Gross (VND)", "Refunded (VND)", "Net (VND)"],
}


def _rows(rows: list[Any]) -> list[list[Any]]:
    return [
        [
            r.day,
            r.lot,
            r.provider,
            r.vehicle_class,
            int(r.payments),
            int(r.gross_vnd),
            int(r.refunded_vnd),
            int(r.gross_vnd) - int(r.refunded_vnd),
        ]
        for r in rows
    ]


def revenue_report(rows: list[Any]) -> dict[str, Any]:
    table = _rows(rows)
    by: dict[str, dict[str, int]] = {k: defaultdict(int) for k in ("day", "lot", "provider", "vehicle_class")}
    for day, lot, provider, vclass, _n, _g, _r, net in table:
        by["day"][day] += net
        by["lot"][lot] += net
        by["provider"][provider] += net
        by["vehicle_class"][vclass] += net
    days = sorted(by["day"])
    lots = sorted(by["lot"])
    per_lot_day = {lot: [sum(r[7] for r in table if r[0] == d and r[1] == lot) for d in days] for lot in lots}
    return {
        "table": table,
        "totals": {k: dict(sorted(v.items())) for k, v in by.items()},
        "net_vnd": sum(r[7] for r in table),
        "gross_vnd": sum(r[5] for r in table),
        "refunded_vnd": sum(r[6] for r in table),
        "chart": {"days": days, "per_lot": per_lot_day},
    }


def to_csv(rows: list[Any], locale: str) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS.get(locale, COLUMNS["vi"]))
    w.writerows(_rows(rows))
    return ("\ufeff" + buf.getvalue()).encode()  # BOM: Excel opens UTF-8 Vietnamese correctly


def to_xlsx(rows: list[Any], locale: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Doanh thu" if locale == "vi" else "Revenue"
    ws.append(COLUMNS.get(locale, COLUMNS["vi"]))
    for r in _rows(rows):
        ws.append(r)
    for col in "FGH":
        for cell in ws[col][1:]:
            cell.number_format = "#,##0"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_pdf(rows: list[Any], locale: str, d0: date, d1: date) -> bytes:
    pdf = FPDF(orientation="L", format="A4")
    pdf.add_page()
    font = find_font()
    if font is not None:
        pdf.add_font("DejaVu", "", str(font))
        pdf.set_font("DejaVu", size=14)
    else:
        pdf.set_font("Helvetica", size=14)
    title = "Báo cáo doanh thu" if locale == "vi" else "Revenue report"
    pdf.cell(0, 10, f"{title} {d0.isoformat()} – {d1.isoformat()}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(9)
    widths = (26, 40, 40, 32, 24, 36, 36, 36)
    for w, h in zip(widths, COLUMNS.get(locale, COLUMNS["vi"]), strict=True):
        pdf.cell(w, 7, h, border=1)
    pdf.ln()
    total = 0
    for r in _rows(rows):
        total += r[7]
        for i, (w, v) in enumerate(zip(widths, r, strict=True)):
            text = f"{v:,}".replace(",", ".") if i >= 4 and isinstance(v, int) else str(v)
            pdf.cell(w, 6, text, border=1, align="R" if i >= 4 else "L")
        pdf.ln()
    pdf.set_font_size(11)
    pdf.cell(0, 9, ("Tổng thực thu: " if locale == "vi" else "Net total: ") + f"{total:,} ₫".replace(",", "."))
    return bytes(pdf.output())
