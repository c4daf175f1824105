"""HTTP shapes of disputes, ratings and problem reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class DisputeIn(BaseModel):
    session_id: uuid.UUID
    kind: str = Field(pattern="^(wrong_plate|wrong_time|charged_twice|other)$", examples=["charged_twice"])
    reason: str = Field(
        min_length=3,
        max_length=2000,
        pattern=r"^[^\x00]*$",
        examples=["Tôi bị trừ tiền hai lần cho cùng một lượt gửi."],
    )


class LotName(BaseModel):
    code: str
    name: str


class AdjustmentInvoice(BaseModel):
    mccqt: str
    total_vnd: int
    url: str


class DisputeOut(BaseModel):
    id: uuid.UUID
    session_id: uuid.UUID
    lot: LotName
    plate: str | None
    kind: str
    reason: str
    status: str = Field(description="open | refunded | rejected")
    decision_reason: str | None
    refund_vnd: int | None
    refund_status: str | None = Field(description="The provider refund: pending | succeeded | failed")
    adjustment_invoice: AdjustmentInvoice | None
    created_at: datetime
    decided_at: datetime | None


class DisputeReview(DisputeOut):
    evidence: dict[str, Any]
    decided_by: str | None


class DecisionIn(BaseModel):
    decision: str = Field(pattern="^(refund|reject)$")
    reason: str = Field(
        min_length=3,
        max_length=2000,
        pattern=r"^[^\x00]*$",
        examples=["Trừ tiền hai lần đã xác nhận; hoàn lại lần thứ hai."],
    )
    amount_vnd: int | None = Field(None, gt=0, le=100_000_000, description="Default: what remains of the payment")
    payment_id: uuid.UUID | None = Field(None, description="Default: the session's latest confirmed payment")


class ReportIn(BaseModel):
    kind: str = Field(
        pattern="^(rating|cash_requested|shown_free_but_full|barrier_broken|other)$", examples=["cash_requested"]
    )
    stars: int | None = Field(None, ge=1, le=5, description="Only for kind=rating")
    comment: str = Field("", max_length=2000, pattern=r"^[^\x00]*$", examples=["Nhân viên đòi trả tiền mặt."])


class ReportOut(BaseModel):
    id: uuid.UUID
    lot_code: str
    kind: str
    stars: int | None
    comment: str
    status: str
    created_at: datetime
    acknowledged_at: datetime | None


class AckIn(BaseModel):
    close: bool = False
