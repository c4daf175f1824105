"""Reconciliation over HTTP for the finance console: import files, run a day, read its summary,
discrepancies and reports, approve refund proposals, reconcile the demo's day.

Staff authentication (``parking.staff``). Who may do what:
- import files, run a day, reconcile the demo's day: finance (and admin). The bank statement and the settlement
  files are the platform's (they carry no operator or lot), so these act platform-wide;
- read a run's summary, the discrepancies and the reports: finance and auditor (and admin). Discrepancies and
  the report's views are scoped to the staff member's lots; rows tied to no session or payment (money that
  arrived for no known session) and the run's summary figures stay platform-wide;
- approve a refund proposal: finance (and admin), only for a payment of the staff member's lots (else 404).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from parking.console.endpoints import console_dependency, page
from parking.kit.deps import DB
from parking.kit.errors import AppError
from parking.payments.settings import get_payment_settings
from parking.staff.deps import staff_dependency
from parking.staff.service import Staff
from reconciliation import report, resolution
from reconciliation.importer import import_file
from reconciliation.rules import CLASS_CODES, VN_TZ
from reconciliation.schemas import ExplainBody, RejectBody
from reconciliation.service import last_summary, run_day

Finance = Annotated[Staff, Depends(staff_dependency("finance"))]
DiscrepancyId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]  # a BIGINT row id
Reader = Annotated[Staff, Depends(staff_dependency("finance", "auditor"))]
router = APIRouter(prefix="/v1/reconciliation", tags=["reconciliation"])
MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


@router.post("/imports", summary="Import a bank statement or a settlement report (CSV/XLSX)")
async def import_upload(
    request: Request,
    db: DB,
    staff: Finance,
    provider: Annotated[str, Query(min_length=1, max_length=32)],
    kind: Annotated[str, Query(pattern="^(bank-statement|settlement)$")],
    file: Annotated[UploadFile, File()],
    preset: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, Any]:
    suffix = Path(file.filename or "upload.csv").suffix.lower() or ".csv"
    with tempfile.TemporaryDirectory(prefix="recon-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        with path.open("wb") as fh:  # streamed to disk, then streamed by the importer
            shutil.copyfileobj(file.file, fh, 1 << 20)
        out = await import_file(
            db,
            provider=provider,
            kind=kind,
            path=path,
            config_dir=request.app.state.parking.settings.config_dir,
            preset=preset,
            filename=file.filename,
        )
    await db.commit()
    return out


@router.post("/runs/{day}", summary="Reconcile a business day (re-running gives the same result)")
async def run(day: date, db: DB, staff: Finance) -> dict[str, Any]:
    out = await run_day(db, day, trigger="api")
    await db.commit()
    assert out is not None
    return out


@router.get("/runs/{day}", summary="The last run's summary of a day")
async def summary(day: date, db: DB, staff: Reader) -> dict[str, Any]:
    out = await last_summary(db, day)
    if out is None:
        raise AppError("not_reconciled", f"{day} has not been reconciled yet.", 404, {"date": str(day)})
    return out


@router.get(
    "/discrepancies/{day}",
    summary="Discrepancies of a day (of my lots, and those tied to no session), with evidence and suggested action",
)
async def discrepancies(
    day: date, db: DB, staff: Reader, code: Annotated[str | None, Query()] = None
) -> list[dict[str, Any]]:
    rows = await report.discrepancies(db, day, code=code, lot_ids=staff.lot_ids)
    return [
        {
            "id": r.id,
            "code": r.code,
            "provider": r.provider,
            "lot_id": str(r.lot_id) if r.lot_id else None,
            "session_id": str(r.session_id) if r.session_id else None,
            "payment_id": str(r.payment_id) if r.payment_id else None,
            "expected_vnd": r.expected_vnd,
            "actual_vnd": r.actual_vnd,
            "action": {"vi": r.action_vi, "en": r.action_en},
            "evidence": r.evidence,
        }
        for r in rows
    ]


@router.get("/reports/{day}", summary="The finance report as JSON, CSV, XLSX or PDF (Vietnamese or English)")
async def report_file(
    day: date,
    db: DB,
    staff: Reader,
    format: Annotated[str, Query(pattern="^(json|csv|xlsx|pdf)$")] = "json",
    lang: Annotated[str, Query(pattern="^(vi|en)$")] = "vi",
) -> Any:
    data = await report.report_data(db, day, staff.lot_ids)
    if format == "json":
        return JSONResponse(data)
    tmp = Path(tempfile.mkdtemp(prefix="recon-report-"))
    path = report.write(data, format, tmp / f"doi-soat-{day}-{lang}.{format}", lang)
    return FileResponse(
        path,
        media_type=MEDIA[format],
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True),
    )


@router.post("/refund-proposals/{proposal_id}/approve", summary="Finance approves a duplicate-credit refund")
async def approve(proposal_id: uuid.UUID, db: DB, staff: Finance) -> dict[str, Any]:
    # resolution.approve scopes the proposal by its lot the way a duplicate credit has one (its payment is booked
    # unallocated, with no session: the lot is the duplicate-credit discrepancy's session's), and audits who.
    p = await resolution.approve(db, proposal_id, lot_ids=staff.lot_ids, actor=staff.actor)
    await db.commit()
    return {"id": str(p.id), "status": p.status, "refund_id": str(p.refund_id), "amount_vnd": p.amount_vnd}


@router.post("/demo", summary="Demo: the simulator injects faults into today's payments; import and reconcile")
async def demo(
    db: DB,
    staff: Finance,
    day: Annotated[date | None, Query(alias="date")] = None,
    inject: bool = True,
) -> dict[str, Any]:
    from reconciliation.demo import reconcile_demo_day

    d = day or datetime.now(VN_TZ).date()
    out = await reconcile_demo_day(db, d, sim_url=get_payment_settings().provider_base_url, inject=inject)
    await db.commit()
    return out


# ---------------------------------------------------------------- resolution (issue 11.3: the finance console)
# Mark a discrepancy explained, reject a refund proposal: finance (and admin); the auditor reads. Business rules
# in reconciliation/resolution.py.


@router.post("/discrepancies/{discrepancy_id}/explain", summary="Finance marks a discrepancy explained (a note)")
async def explain(discrepancy_id: DiscrepancyId, body: ExplainBody, db: DB, staff: Finance) -> dict[str, Any]:
    return await resolution.explain(
        db, discrepancy_id, operator_id=staff.operator_id, lot_ids=staff.lot_ids, actor=staff.actor, note=body.note
    )


@router.post("/refund-proposals/{proposal_id}/reject", summary="Finance keeps the money of a proposed refund")
async def reject(proposal_id: uuid.UUID, body: RejectBody, db: DB, staff: Finance) -> dict[str, Any]:
    p = await resolution.reject(db, proposal_id, lot_ids=staff.lot_ids, actor=staff.actor, reason=body.reason)
    return {"id": str(p.id), "status": p.status, "amount_vnd": p.amount_vnd, "decided_by": p.decided_by}


# ---------------------------------------------------------------- the finance console's reconciliation pages
# Server-rendered like the other console pages (parking/console); they live here because `parking` never
# imports `reconciliation` (AGENTS.md), and are registered by the app next to the API router.

ConsoleReader = Annotated[Staff, Depends(console_dependency("finance", "auditor"))]
ConsoleFinance = Annotated[Staff, Depends(console_dependency("finance"))]
console_router = APIRouter(prefix="/console/finance/reconciliation", include_in_schema=False)


@console_router.get("", response_class=HTMLResponse)
async def console_runs(
    request: Request, db: DB, staff: ConsoleReader, until: Annotated[date | None, Query()] = None
) -> HTMLResponse:
    found = await resolution.runs(db, operator_id=staff.operator_id, lot_ids=staff.lot_ids, until=until)
    return page(request, "recon_runs.html", staff, runs=found, codes=CLASS_CODES, until=until)


@console_router.get("/discrepancies/{discrepancy_id}", response_class=HTMLResponse)
async def console_discrepancy(
    discrepancy_id: DiscrepancyId, request: Request, db: DB, staff: ConsoleReader
) -> HTMLResponse:
    found = await resolution.detail(db, discrepancy_id, operator_id=staff.operator_id, lot_ids=staff.lot_ids)
    return page(request, "recon_discrepancy.html", staff, **found)


@console_router.post("/discrepancies/{discrepancy_id}/explain")
async def console_explain(
    discrepancy_id: DiscrepancyId, request: Request, db: DB, staff: ConsoleFinance, note: Annotated[str, Form()] = ""
) -> Response:
    out = await resolution.explain(
        db, discrepancy_id, operator_id=staff.operator_id, lot_ids=staff.lot_ids, actor=staff.actor, note=note
    )
    if request.headers.get("hx-request"):
        return page(request, "_notice.html", staff, ok=True, message="recon_explained", ref=str(out["id"]), out=out)
    return RedirectResponse(f"/console/finance/reconciliation/discrepancies/{discrepancy_id}", status_code=303)


@console_router.post("/proposals/{proposal_id}/decision")
async def console_decision(
    proposal_id: uuid.UUID,
    request: Request,
    db: DB,
    staff: ConsoleFinance,
    decision: Annotated[str, Form(pattern="^(approve|reject)$")],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if decision == "approve":
        p = await resolution.approve(db, proposal_id, lot_ids=staff.lot_ids, actor=staff.actor, note=reason)
    else:
        p = await resolution.reject(db, proposal_id, lot_ids=staff.lot_ids, actor=staff.actor, reason=reason)
    if request.headers.get("hx-request"):
        return page(request, "_notice.html", staff, ok=True, message=f"recon_refund_{p.status}", ref=str(p.id), out=p)
    return RedirectResponse(f"/console/finance/reconciliation/{p.business_date}", status_code=303)


@console_router.get("/{day}", response_class=HTMLResponse)
async def console_day(day: date, request: Request, db: DB, staff: ConsoleReader) -> HTMLResponse:
    found = await resolution.day_view(db, day, operator_id=staff.operator_id, lot_ids=staff.lot_ids)
    return page(request, "recon_day.html", staff, day=day, view=found, class_vi=report.CLASS_VI)
