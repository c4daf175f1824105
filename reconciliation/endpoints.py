"""Reconciliation over HTTP for the finance console: import files, run a day, read its summary,
discrepancies and reports, approve refund proposals, reconcile the demo's day.

Every route is behind the operator's authentication, in one place (`Staff` below): when operator/staff
accounts replace the shared operator key, only `require_staff` changes.
"""

from __future__ import annotations

import hmac
import shutil
import tempfile
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Header, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import select
from starlette.background import BackgroundTask

from parking.kit.deps import DB
from parking.kit.errors import AppError
from parking.models import Discrepancy
from parking.payments.settings import get_payment_settings
from reconciliation import report
from reconciliation.importer import import_file
from reconciliation.rules import VN_TZ
from reconciliation.service import approve_proposal, last_summary, run_day


def require_staff(x_operator_key: Annotated[str | None, Header(alias="X-Operator-Key")] = None) -> str:
    """The operator's authentication (the shared operator key until staff accounts exist)."""
    expected = get_payment_settings().operator_api_key
    if not x_operator_key or not hmac.compare_digest(x_operator_key.encode(), expected.encode()):
        raise AppError("unauthorized", "An operator key (X-Operator-Key) is required.", 401)
    return "operator"


Staff = Annotated[str, Depends(require_staff)]
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
    staff: Staff,
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
async def run(day: date, db: DB, staff: Staff) -> dict[str, Any]:
    out = await run_day(db, day, trigger="api")
    await db.commit()
    assert out is not None
    return out


@router.get("/runs/{day}", summary="The last run's summary of a day")
async def summary(day: date, db: DB, staff: Staff) -> dict[str, Any]:
    out = await last_summary(db, day)
    if out is None:
        raise AppError("not_reconciled", f"{day} has not been reconciled yet.", 404, {"date": str(day)})
    return out


@router.get("/discrepancies/{day}", summary="Discrepancies of a day, with evidence and suggested action")
async def discrepancies(
    day: date, db: DB, staff: Staff, code: Annotated[str | None, Query()] = None
) -> list[dict[str, Any]]:
    q = select(Discrepancy).where(Discrepancy.business_date == day).order_by(Discrepancy.code, Discrepancy.id)
    if code:
        q = q.where(Discrepancy.code == code)
    rows = (await db.execute(q)).scalars().all()
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
    staff: Staff,
    format: Annotated[str, Query(pattern="^(json|csv|xlsx|pdf)$")] = "json",
    lang: Annotated[str, Query(pattern="^(vi|en)$")] = "vi",
) -> Any:
    data = await report.report_data(db, day)
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
async def approve(proposal_id: uuid.UUID, db: DB, staff: Staff) -> dict[str, Any]:
    p = await approve_proposal(db, proposal_id, actor=staff)
    await db.commit()
    return {"id": str(p.id), "status": p.status, "refund_id": str(p.refund_id), "amount_vnd": p.amount_vnd}


@router.post("/demo", summary="Demo: the simulator injects faults into today's payments; import and reconcile")
async def demo(
    db: DB,
    staff: Staff,
    day: Annotated[date | None, Query(alias="date")] = None,
    inject: bool = True,
) -> dict[str, Any]:
    from reconciliation.demo import reconcile_demo_day

    d = day or datetime.now(VN_TZ).date()
    out = await reconcile_demo_day(db, d, sim_url=get_payment_settings().provider_base_url, inject=inject)
    await db.commit()
    return out
