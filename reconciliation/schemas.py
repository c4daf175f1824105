"""Bodies of the reconciliation endpoints that take JSON (the finance console's resolution actions)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ExplainBody(BaseModel):
    note: str = Field(max_length=2000, description="Why the discrepancy is not a problem (5 to 2000 characters)")


class RejectBody(BaseModel):
    reason: str = Field(max_length=2000, description="Why the money of the proposed refund is kept")
