"""HTTP shapes of the invoice endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

# Patterns match config/schemas/hdon-cash-register.xsd, so accepted details always make a valid invoice.
MST_PATTERN = r"^[0-9]{10}(-[0-9]{3})?$"


class BuyerIn(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=400)
    tax_code: str | None = Field(None, pattern=MST_PATTERN, description="MST: 10 digits, or 10-3 for a branch")
    address: str | None = Field(None, min_length=1, max_length=400)
    id_number: str | None = Field(None, pattern=r"^([0-9]{9}|[0-9]{12})$", description="CCCD/CMND")
    phone: str | None = Field(None, pattern=r"^\+?[0-9]{8,15}$")


class CompanyInvoiceIn(BuyerIn):
    name: str = Field(min_length=1, max_length=400)
    tax_code: str = Field(pattern=MST_PATTERN)
    address: str = Field(min_length=1, max_length=400)


class InvoiceOut(BaseModel):
    mccqt: str
    kind: str
    symbol: str
    number: int
    issued_at: datetime
    total_vnd: int
    net_vnd: int
    vat_vnd: int
    vat_rate_bp: int
    status: str
    status_reason: str | None
    plate: str | None
    buyer: dict[str, str]
    related_mccqt: str | None
    url: str
    pdf_url: str


class InvoiceList(BaseModel):
    items: list[InvoiceOut]
