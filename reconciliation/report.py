"""Finance reports of a reconciled day: per day, per lot, per provider, and the discrepancy list,
as JSON, CSV, XLSX (one formatted sheet per view) and PDF (with a chart). Vietnamese first, English variant.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import ARRAY, BindParameter, bindparam, select, text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from parking.kit.errors import AppError
from parking.models import Discrepancy
from reconciliation import matching
from reconciliation.rules import CLASS_CODES
from reconciliation.service import last_summary
from reconciliation.settings import get_recon_settings

FORMATS = ("json", "csv", "xlsx", "pdf")

CLASS_VI = {
    "missing_at_provider": "Thiếu tại ngân hàng/trung gian",
    "orphan_credit": "Tiền về không rõ phiên",
    "duplicate_credit": "Chuyển trùng",
    "amount_mismatch": "Lệch số tiền",
    "late_settlement": "Quyết toán muộn",
    "refund_reversal": "Hoàn/đảo giao dịch",
    "status_mismatch": "Lệch trạng thái",
    "transfer_late": "Chuyển tiền quá 24 giờ",
    "leakage": "Thất thoát tại bãi",
}
CLASS_EN = {c: c.replace("_", " ").capitalize() for c in CLASS_CODES}

LABELS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Báo cáo đối soát ngày",
        "summary": "Tổng hợp",
        "by_lot": "Theo bãi xe",
        "by_provider": "Theo đơn vị thanh toán",
        "discrepancies": "Chênh lệch",
        "healing": "Tự xử lý",
        "date": "Ngày",
        "payments": "Số giao dịch",
        "matched": "Đã khớp",
        "expected_vnd": "Phải thu (VND)",
        "settled_vnd": "Đã về (VND)",
        "difference_vnd": "Chênh lệch (VND)",
        "fees_vnd": "Phí trung gian (VND)",
        "lot": "Bãi xe",
        "provider": "Đơn vị",
        "sessions": "Lượt gửi",
        "paid": "Đã thanh toán",
        "gross_vnd": "Doanh thu gộp (VND)",
        "net_vnd": "Thực nhận (VND)",
        "vat_vnd": "Thuế GTGT (VND)",
        "invoices": "Hóa đơn đã lập",
        "debts": "Nợ",
        "debts_vnd": "Nợ (VND)",
        "count": "Số lượng",
        "code": "Mã",
        "class": "Loại",
        "session": "Phiên",
        "payment": "Thanh toán",
        "expected": "Phải thu",
        "actual": "Thực tế",
        "action": "Đề xuất xử lý",
        "step": "Bước",
        "subject": "Đối tượng",
        "chart": "Chênh lệch theo loại",
        "not_run": "Chưa đối soát ngày này",
        "healed": "Đã tự xử lý",
    },
    "en": {
        "title": "Daily reconciliation report",
        "summary": "Summary",
        "by_lot": "By lot",
        "by_provider": "By provider",
        "discrepancies": "Discrepancies",
        "healing": "Self-healing",
        "date": "Date",
        "payments": "Payments",
        "matched": "Matched",
        "expected_vnd": "Expected (VND)",
        "settled_vnd": "Settled (VND)",
        "difference_vnd": "Difference (VND)",
        "fees_vnd": "Intermediary fees (VND)",
        "lot": "Lot",
        "provider": "Provider",
        "sessions": "Sessions",
        "paid": "Paid",
        "gross_vnd": "Gross (VND)",
        "net_vnd": "Net (VND)",
        "vat_vnd": "VAT (VND)",
        "invoices": "Invoices issued",
        "debts": "Debts",
        "debts_vnd": "Debts (VND)",
        "count": "Count",
        "code": "Code",
        "class": "Class",
        "session": "Session",
        "payment": "Payment",
        "expected": "Expected",
        "actual": "Actual",
        "action": "Suggested action",
        "step": "Step",
        "subject": "Subject",
        "chart": "Discrepancies by class",
        "not_run": "This day has not been reconciled",
        "healed": "Healed",
    },
}


# Scoping by the staff member's lots. The bank statement and the settlement files carry no operator or lot:
# a row is tied to a lot through its session, or its payment's session (or debt). Rows tied to nothing
# (money that arrived for no known session) cannot be attributed to an operator: they stay platform-wide.
def payment_lot(col: str) -> str:
    """SQL: the lot of the payment whose id is `col` (its session's, else its QR's debt's), or NULL."""
    return (
        "(SELECT coalesce(ps.lot_id, pd.lot_id) FROM payments pp"
        " LEFT JOIN parking_sessions ps ON ps.id = pp.session_id"
        " LEFT JOIN payment_intents pi ON pi.id = pp.intent_id LEFT JOIN debts pd ON pd.id = pi.debt_id"
        f" WHERE pp.id = {col})"
    )


def row_scope(t: str, *, lot_col: str | None) -> str:
    """SQL condition: row `t` (with session_id, payment_id and maybe a lot column) is of one of :lots, or tied
    to no lot, session or payment at all (platform-wide)."""
    lot_first = f"{t}.{lot_col}, " if lot_col else ""
    session_lot = f"(SELECT s2.lot_id FROM parking_sessions s2 WHERE s2.id = {t}.session_id)"
    unassigned = f"{t}.session_id IS NULL AND {t}.payment_id IS NULL"
    if lot_col:
        unassigned = f"{t}.{lot_col} IS NULL AND {unassigned}"
    return f"(coalesce({lot_first}{session_lot}, {payment_lot(f'{t}.payment_id')}) = ANY(:lots) OR ({unassigned}))"


def lots_param(lot_ids: Sequence[uuid.UUID]) -> BindParameter[Any]:
    lots_type: ARRAY[uuid.UUID] = ARRAY(PG_UUID(as_uuid=True))
    return bindparam("lots", value=list(lot_ids), type_=lots_type)


async def discrepancies(
    db: AsyncSession, day: date, *, code: str | None, lot_ids: Sequence[uuid.UUID]
) -> list[Discrepancy]:
    """The day's discrepancies of `lot_ids`, and those tied to no session or payment (platform-wide)."""
    q = (
        select(Discrepancy)
        .where(Discrepancy.business_date == day)
        .where(text(row_scope("recon_discrepancies", lot_col="lot_id")).bindparams(lots_param(lot_ids)))
        .order_by(Discrepancy.code, Discrepancy.id)
    )
    if code:
        q = q.where(Discrepancy.code == code)
    return list((await db.execute(q)).scalars())


async def _rows(db: AsyncSession, sql: str, p: dict[str, Any]) -> list[dict[str, Any]]:
    res = await db.execute(text(sql), p)
    return [
        {k: (v if isinstance(v, int | str | float | type(None)) else str(v)) for k, v in r._mapping.items()}
        for r in res
    ]


async def report_data(db: AsyncSession, day: date, lot_ids: Sequence[uuid.UUID] | None = None) -> dict[str, Any]:
    """The day's report; with `lot_ids` (a staff member's), the per-lot, per-provider, discrepancy and healing
    views hold only those lots' rows (and the rows tied to no session or payment). The summary is the run's,
    platform-wide: the bank side of a run has no lot."""
    summary = await last_summary(db, day)
    if summary is None:
        raise AppError("not_reconciled", f"{day} has not been reconciled yet: run it first.", 404, {"date": str(day)})
    dp = matching.params(day, get_recon_settings())
    p: dict[str, Any] = {"d": day, "lo": dp.lo, "hi": dp.hi, "paid": matching.PAID}
    scoped = lot_ids is not None
    if lot_ids is not None:
        p["lots"] = list(lot_ids)
    lot_where = "WHERE l.id = ANY(:lots)" if scoped else ""
    pay_where = f"AND {payment_lot('pm.id')} = ANY(:lots)" if scoped else ""
    disc_where = f"AND {row_scope('x', lot_col='lot_id')}" if scoped else ""
    heal_where = f"AND {row_scope('h', lot_col=None)}" if scoped else ""
    by_lot = await _rows(
        db,
        f"""SELECT l.code AS lot, l.name AS lot_name,
                  count(s.id) AS sessions,
                  count(s.id) FILTER (WHERE s.payment_status = 'paid') AS paid,
                  coalesce(sum(pay.amount), 0)::bigint AS gross_vnd,
                  coalesce(sum(fee.fee), 0)::bigint AS fees_vnd,
                  (coalesce(sum(pay.amount), 0) - coalesce(sum(fee.fee), 0))::bigint AS net_vnd,
                  coalesce(sum(inv.vat), 0)::bigint AS vat_vnd,
                  coalesce(sum(inv.n), 0)::bigint AS invoices,
                  count(db.id) FILTER (WHERE db.status = 'open') AS debts,
                  coalesce(sum(db.amount_vnd) FILTER (WHERE db.status = 'open'), 0)::bigint AS debts_vnd,
                  (SELECT count(*) FROM recon_discrepancies x WHERE x.business_date = :d AND x.lot_id = l.id)
                    AS discrepancies
             FROM lots l
             JOIN parking_sessions s ON s.lot_id = l.id AND s.exit_at >= :lo AND s.exit_at < :hi
             LEFT JOIN LATERAL (SELECT sum(pm.amount_vnd) AS amount FROM payments pm
                                 WHERE pm.session_id = s.id AND pm.status = ANY(:paid)) pay ON true
             LEFT JOIN LATERAL (SELECT sum(sl.fee_vnd) AS fee FROM payments pm
                                  JOIN recon_settlement_lines sl ON sl.txn_id = pm.provider_txn_id
                                 WHERE pm.session_id = s.id AND sl.kind = 'payment') fee ON true
             LEFT JOIN LATERAL (SELECT sum(i.vat_vnd) AS vat, count(*) AS n FROM invoices i
                                 WHERE i.session_id = s.id AND i.kind = 'original') inv ON true
             LEFT JOIN debts db ON db.session_id = s.id
            {lot_where}
            GROUP BY l.id, l.code, l.name ORDER BY l.code""",
        p,
    )
    by_provider = await _rows(
        db,
        f"""SELECT pm.provider, count(*) AS payments, sum(pm.amount_vnd)::bigint AS gross_vnd,
                  coalesce(sum(sl.fee_vnd), 0)::bigint AS fees_vnd,
                  (sum(pm.amount_vnd) - coalesce(sum(sl.fee_vnd), 0))::bigint AS net_vnd,
                  (SELECT count(*) FROM recon_discrepancies x
                    WHERE x.business_date = :d AND x.provider = pm.provider {disc_where})
                    AS discrepancies
             FROM payments pm
             LEFT JOIN recon_settlement_lines sl ON sl.txn_id = pm.provider_txn_id AND sl.kind = 'payment'
            WHERE pm.status = ANY(:paid) AND pm.confirmed_at >= :lo AND pm.confirmed_at < :hi {pay_where}
            GROUP BY pm.provider ORDER BY pm.provider""",
        p,
    )
    discrepancies = await _rows(
        db,
        f"""SELECT x.id, x.code, x.provider, l.code AS lot, x.session_id, x.payment_id, x.expected_vnd, x.actual_vnd,
                  x.action_vi, x.action_en, x.evidence::text AS evidence
             FROM recon_discrepancies x LEFT JOIN lots l ON l.id = x.lot_id
            WHERE x.business_date = :d {disc_where} ORDER BY x.code, x.id""",
        p,
    )
    healing = await _rows(
        db,
        f"""SELECT action, subject, payment_id, session_id, detail::text AS detail, created_at
             FROM recon_healing h WHERE h.business_date = :d {heal_where} ORDER BY h.id""",
        p,
    )
    return {
        "date": day.isoformat(),
        "summary": summary,
        "by_lot": by_lot,
        "by_provider": by_provider,
        "discrepancies": discrepancies,
        "healing": healing,
    }


def _views(data: dict[str, Any], lang: str) -> list[tuple[str, list[str], list[list[Any]]]]:
    L = LABELS[lang]
    names = CLASS_VI if lang == "vi" else CLASS_EN
    s = data["summary"]
    summary_rows: list[list[Any]] = [
        [L["date"], data["date"]],
        [L["payments"], s["payments"]],
        [L["matched"], s["matched"]],
        [L["expected_vnd"], s["amounts"]["expected_vnd"]],
        [L["settled_vnd"], s["amounts"]["settled_vnd"]],
        [L["difference_vnd"], s["amounts"]["difference_vnd"]],
        [L["fees_vnd"], s["amounts"].get("fees_vnd", 0)],
    ]
    summary_rows += [[f"{names[c]} ({c})", s["discrepancies"][c]] for c in CLASS_CODES]
    summary_rows += [[f"{L['healed']}: {a}", n] for a, n in s["healed"].items()]
    lot_keys = [
        "lot",
        "sessions",
        "paid",
        "gross_vnd",
        "fees_vnd",
        "net_vnd",
        "vat_vnd",
        "invoices",
        "debts",
        "debts_vnd",
        "discrepancies",
    ]
    prov_keys = ["provider", "payments", "gross_vnd", "fees_vnd", "net_vnd", "discrepancies"]
    action = "action_vi" if lang == "vi" else "action_en"
    return [
        (L["summary"], ["", L["count"]], summary_rows),
        (L["by_lot"], [L.get(k, k) for k in lot_keys], [[r[k] for k in lot_keys] for r in data["by_lot"]]),
        (
            L["by_provider"],
            [L.get(k, k) for k in prov_keys],
            [[r[k] for k in prov_keys] for r in data["by_provider"]],
        ),
        (
            L["discrepancies"],
            [
                L["code"],
                L["class"],
                L["provider"],
                L["lot"],
                L["session"],
                L["payment"],
                L["expected"],
                L["actual"],
                L["action"],
            ],
            [
                [
                    r["code"],
                    names[r["code"]],
                    r["provider"],
                    r["lot"],
                    r["session_id"],
                    r["payment_id"],
                    r["expected_vnd"],
                    r["actual_vnd"],
                    r[action],
                ]
                for r in data["discrepancies"]
            ],
        ),
        (
            L["healing"],
            [L["step"], L["subject"], L["payment"], L["session"]],
            [[r["action"], r["subject"], r["payment_id"], r["session_id"]] for r in data["healing"]],
        ),
    ]


def write(data: dict[str, Any], fmt: str, out: Path, lang: str = "vi") -> Path:
    if fmt not in FORMATS:
        raise AppError("bad_format", f"format must be one of {FORMATS}", 422)
    if lang not in LABELS:
        raise AppError("bad_lang", "lang must be vi or en", 422)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        out.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    elif fmt == "csv":
        out.write_text(_csv(data, lang), encoding="utf-8-sig")  # BOM: spreadsheets then read Vietnamese right
    elif fmt == "xlsx":
        _xlsx(data, lang, out)
    else:
        out.write_bytes(_pdf(data, lang))
    return out


def _csv(data: dict[str, Any], lang: str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([LABELS[lang]["title"], data["date"]])
    for title, header, rows in _views(data, lang):
        w.writerow([])
        w.writerow([f"# {title}"])
        w.writerow(header)
        w.writerows(rows)
    return buf.getvalue()


def _xlsx(data: dict[str, Any], lang: str, out: Path) -> None:
    import openpyxl
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = openpyxl.Workbook()
    first = True
    for title, header, rows in _views(data, lang):
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = title[:31]
        ws.append([f"{LABELS[lang]['title']} {data['date']} — {title}"])
        ws["A1"].font = Font(bold=True, size=13)
        ws.append(header)
        for c in ws[2]:
            c.font = Font(bold=True, color="FFFFFF")
            c.fill = PatternFill("solid", fgColor="1F4E79")
            c.alignment = Alignment(wrap_text=True, vertical="center")
        for r in rows:
            ws.append(r)
        ws.freeze_panes = "A3"
        for i, h in enumerate(header, start=1):
            letter = get_column_letter(i)
            width = max([len(str(h))] + [len(str(r[i - 1])) for r in rows[:200] if i - 1 < len(r)] + [8])
            ws.column_dimensions[letter].width = min(width + 2, 70)
            money = "VND" in str(h) or str(h) in (LABELS[lang]["expected"], LABELS[lang]["actual"])
            for row in ws.iter_rows(min_row=3, min_col=i, max_col=i):
                for c in row:
                    if isinstance(c.value, int) and (money or i == 2):
                        c.number_format = "#,##0"
    wb.save(out)


def _font_path(name: str = "DejaVuSans.ttf") -> str:
    import matplotlib

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name)


def _chart(data: dict[str, Any], lang: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = CLASS_VI if lang == "vi" else CLASS_EN
    counts = [data["summary"]["discrepancies"][c] for c in CLASS_CODES]
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=120)
    ax.barh([names[c] for c in CLASS_CODES][::-1], counts[::-1], color="#1F4E79")
    for y, v in enumerate(counts[::-1]):
        ax.text(v, y, f" {v}", va="center", fontsize=8)
    ax.set_title(LABELS[lang]["chart"], fontsize=10)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _vnd(v: Any) -> str:
    return f"{v:,}".replace(",", ".") if isinstance(v, int) else ("" if v is None else str(v))


def _pdf(data: dict[str, Any], lang: str) -> bytes:
    from fpdf import FPDF

    L = LABELS[lang]
    pdf = FPDF(orientation="L", format="A4")
    pdf.add_font("DejaVu", "", _font_path())  # DejaVu Sans (shipped with matplotlib) has every Vietnamese glyph
    pdf.add_font("DejaVu", "B", _font_path("DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, 12)
    pdf.add_page()
    pdf.set_font("DejaVu", size=15)
    pdf.cell(0, 9, f"{L['title']} {data['date']}", new_x="LMARGIN", new_y="NEXT")
    s = data["summary"]
    pdf.set_font("DejaVu", size=9)
    for k in ("expected_vnd", "settled_vnd", "difference_vnd", "fees_vnd"):
        pdf.cell(0, 5, f"{L[k]}: {_vnd(s['amounts'].get(k, 0))}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, f"{L['payments']}: {s['payments']} · {L['matched']}: {s['matched']}", new_x="LMARGIN", new_y="NEXT")
    pdf.image(io.BytesIO(_chart(data, lang)), w=180)
    for title, header, rows in _views(data, lang)[1:]:
        pdf.add_page()
        pdf.set_font("DejaVu", size=12)
        pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", size=6.5)
        shown = [[_vnd(v)[:60] for v in r] for r in rows[:300]]
        with pdf.table(text_align="LEFT", first_row_as_headings=True) as table:
            table.row([str(h) for h in header])
            for r in shown:
                table.row(r)
        if len(rows) > 300:
            pdf.cell(0, 6, f"… {len(rows) - 300} more", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
