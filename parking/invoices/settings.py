"""Invoice settings (env prefix ``PARKING_INVOICE_``), kept here so the invoice package owns them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from parking.settings import REPO_ROOT


class InvoiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARKING_INVOICE_", env_file=".env", extra="ignore")

    provider_url: str = "http://127.0.0.1:8790"
    provider_timeout_s: float = 5.0
    # MNGui: the transmission provider's code, "V" + its MST without the dash (Decision 1271).
    sender_code: str = "V0107001729001"
    # Operator certificates: {cert_dir}/{operator code}.crt.pem and .key.pem (PEM, unencrypted key).
    cert_dir: Path = REPO_ROOT / ".parking" / "certs"
    # Key of the HMAC in lookup links (?k=...): MCCQTs are sequential, so the code alone must not open
    # a receipt that shows a plate and its times. Set a real secret in production.
    lookup_secret: str = "dev-only-lookup-secret"
    template: int = 1  # KHMSHDon 1: VAT invoice (deduction method)
    # An invoice that cannot be signed yet (no certificate installed) is tried again this often.
    cert_wait_retry_s: float = 60.0
    # `parking invoices verify` reports invoices the tax authority has not accepted this long after issue.
    # Cash-register invoice data goes to the tax authority the same day; transmission normally takes seconds.
    accept_within_min: int = 120
    line_name: str = "Dịch vụ trông giữ xe"
    line_unit: str = "lượt"


@lru_cache
def get_invoice_settings() -> InvoiceSettings:
    return InvoiceSettings()
