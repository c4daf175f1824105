"""A fake e-invoice transmission provider that forwards cash-register invoices to the tax authority.

It behaves like the real edge on the points our code must survive:
  * it checks the XML against the project's schema and the XML Signature against the operator's
    certificate it was configured with, and rejects with a reason otherwise;
  * it de-duplicates by MCCQT and MTDiep, so a retry after a lost answer is never a second invoice
    (the same MCCQT with different content is rejected as a conflict);
  * fault injection: ``POST /_faults {"mode": "reject"|"timeout"|"http_500", "count": n}``. A
    "timeout" *records* the invoice and then answers too late, the nastiest case for retries.

Wire protocol (ours, the real providers' APIs differ): ``POST /api/v1/invoices`` with the signed
``TDiep`` as ``application/xml``; answer 200 ``{"status": "accepted"|"rejected", ...}``.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from lxml import etree
from pydantic import BaseModel, Field

from parking.invoices import signing
from parking.invoices import xml as X
from parking.invoices.codes import is_mccqt


class FaultSpec(BaseModel):
    mode: str = Field(pattern="^(reject|timeout|http_500)$")
    count: int = Field(1, ge=1, le=1000)
    delay_s: float = Field(10.0, ge=0, le=120)  # how late a "timeout" answers
    reason: str = "Simulated rejection by the tax authority"


class TrustSpec(BaseModel):
    cert_pem: str


@dataclass
class State:
    trusted: list[bytes] = field(default_factory=list)
    faults: list[FaultSpec] = field(default_factory=list)
    by_mccqt: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_mtdiep: dict[str, str] = field(default_factory=dict)  # MTDiep -> MCCQT
    attempts: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def next_fault(self) -> FaultSpec | None:
        if not self.faults:
            return None
        f = self.faults[0]
        if f.count <= 1:
            self.faults.pop(0)
        else:
            self.faults[0] = f.model_copy(update={"count": f.count - 1})
        return f


def _rejected(state: State, code: str, reason: str, mtdiep: str | None = None) -> JSONResponse:
    state.rejections.append({"code": code, "reason": reason, "mtdiep": mtdiep})
    return JSONResponse({"status": "rejected", "code": code, "reason": reason, "mtdiep": mtdiep})


def _trusted(state: State, cert_dir: Path | None) -> list[bytes]:
    # The demo mints operator certificates after the simulator starts: read the folder each time.
    folder = sorted(cert_dir.glob("*.crt.pem")) if cert_dir is not None and cert_dir.is_dir() else []
    return [*state.trusted, *(f.read_bytes() for f in folder)]


def create_app(trusted_certs: list[bytes] | None = None, cert_dir: Path | None = None) -> FastAPI:
    app = FastAPI(title="e-invoice provider simulator")
    state = State(trusted=list(trusted_certs or []))
    app.state.sim = state

    @app.post("/api/v1/invoices")
    async def receive(request: Request) -> JSONResponse:
        state.attempts += 1
        body = await request.body()
        fault = state.next_fault()
        if fault is not None and fault.mode == "http_500":
            return JSONResponse({"error": "simulated outage"}, status_code=500)
        if fault is not None and fault.mode == "reject":
            return _rejected(state, "simulated_rejection", fault.reason)
        try:
            env = X.from_bytes(body)
        except etree.XMLSyntaxError as e:
            return _rejected(state, "malformed_xml", str(e))
        mtdiep = env.findtext("TTChung/MTDiep")
        try:
            X.validate(env)
        except etree.DocumentInvalid as e:
            return _rejected(state, "schema_invalid", str(e), mtdiep)
        dlieu = None
        signer = None
        errors = []
        for cert in _trusted(state, cert_dir):
            try:
                dlieu = signing.verify_tdiep(env, cert)
                signer = cert
                break
            except signing.SignatureError as e:
                errors.append(str(e))
        if dlieu is None or signer is None:
            return _rejected(state, "invalid_signature", "; ".join(errors) or "no trusted certificate", mtdiep)
        hdon = dlieu.find("HDon")
        assert hdon is not None  # guaranteed by the schema
        # The invoice itself must carry the seller's signature (HDon/DSCKS/NBan), not only the envelope.
        if hdon.find("DSCKS/NBan") is None:
            return _rejected(state, "missing_seller_signature", "HDon/DSCKS/NBan is missing", mtdiep)
        try:
            signing.verify_hdon(hdon, signer)
        except signing.SignatureError as e:
            return _rejected(state, "invalid_seller_signature", str(e), mtdiep)
        s = X.summarize(hdon)
        if not is_mccqt(s.mccqt):
            return _rejected(state, "invalid_mccqt", s.mccqt, mtdiep)
        if s.net_vnd + s.vat_vnd != s.total_vnd:
            return _rejected(state, "totals_mismatch", "TgTCThue + TgTThue != TgTTTBSo", mtdiep)
        digest = hashlib.sha256(etree.tostring(hdon, method="c14n")).hexdigest()
        prior = state.by_mccqt.get(s.mccqt)
        if prior is not None and prior["digest"] != digest:
            return _rejected(state, "duplicate_mccqt", f"{s.mccqt} was already received with other content", mtdiep)
        duplicate = prior is not None or (mtdiep is not None and mtdiep in state.by_mtdiep)
        if prior is None:
            state.by_mccqt[s.mccqt] = {
                "mccqt": s.mccqt,
                "mtdiep": mtdiep,
                "symbol": s.symbol,
                "number": s.number,
                "net_vnd": s.net_vnd,
                "vat_vnd": s.vat_vnd,
                "total_vnd": s.total_vnd,
                "seller_tax_code": s.seller_tax_code,
                "digest": digest,
                "received_at": datetime.now(UTC).isoformat(),
                "deliveries": 1,
            }
        else:
            prior["deliveries"] += 1
        if mtdiep:
            state.by_mtdiep[mtdiep] = s.mccqt
        if fault is not None and fault.mode == "timeout":
            await asyncio.sleep(fault.delay_s)  # recorded, but the answer comes too late
        return JSONResponse({"status": "accepted", "mccqt": s.mccqt, "mtdiep": mtdiep, "duplicate": duplicate})

    @app.post("/_faults")
    async def add_fault(spec: FaultSpec) -> dict[str, Any]:
        state.faults.append(spec)
        return {"queued": [f.model_dump() for f in state.faults]}

    @app.post("/_trust")
    async def trust(spec: TrustSpec) -> dict[str, Any]:
        state.trusted.append(spec.cert_pem.encode())
        return {"trusted": len(state.trusted)}

    @app.get("/_received")
    async def received() -> dict[str, Any]:
        return {
            "invoices": list(state.by_mccqt.values()),
            "attempts": state.attempts,
            "rejections": state.rejections,
        }

    @app.post("/_reset")
    async def reset() -> dict[str, Any]:
        state.faults.clear()
        state.by_mccqt.clear()
        state.by_mtdiep.clear()
        state.rejections.clear()
        state.attempts = 0
        return {"ok": True}

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True}

    return app
