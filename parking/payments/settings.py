"""Payment settings (env prefix ``PARKING_PAYMENTS_``). Defaults match `make run`'s simulator."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PaymentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARKING_PAYMENTS_", env_file=".env", extra="ignore")

    provider_name: str = "sim"
    provider_base_url: str = "http://127.0.0.1:8100"
    provider_secret: str = "dev-provider-secret"  # bearer for the provider API
    # How long the exit waits for the linked charge before opening anyway (the charge then
    # completes through the outbox). Short: the driver is at the barrier.
    charge_deadline_s: float = Field(1.5, gt=0)
    default_deferred_limit_vnd: int = Field(300_000, ge=0)
    # A linked account is charged silently only when the exit read equals the session's plate with at
    # least this fused read confidence: the default engine's `charge_threshold` ("fused" since issue 15's
    # second pass; gate_agent/reading/models/operating_point.json), chosen on the calibration half of the
    # held-out plates for a wrong-accept rate <= 0.1 % (docs/plate-reading.md, `python -m gate_agent eval
    # --json`). It is on that engine's calibrated scale. Anything weaker shows the VietQR with the plate.
    # Raised above that calibrated 0.929 to 0.98: on the evaluation sets two wrong reads scored 0.963 and 0.975
    # (a dropped digit; a 4/6 both engines agreed on), and a wrong charge bills another person's account,
    # so the bar sits above every wrong read seen anywhere; it costs about 1 % of the test half's reads.
    linked_min_read_confidence: float = Field(0.98, ge=0, le=1)

    # Bank-side confirmation credentials, no defaults: unset → that notification shape is refused.
    # SePay: the ONE authentication method chosen for the webhook in SePay's dashboard, and its secret.
    sepay_auth: Literal["apikey", "hmac"] | None = None
    sepay_api_key: str | None = None
    sepay_hmac_secret: str | None = None
    sepay_max_skew_s: int = Field(300, gt=0)  # X-SePay-Timestamp drift accepted (SePay advises 5 minutes)
    vnpay_hash_secret: str | None = None

    # The account dynamic VietQRs point at (operator's collection account).
    qr_bank_bin: str = "970436"
    qr_account: str = "0011001234567"
    qr_ttl_s: int = Field(900, gt=0)

    # Issue the e-invoice in the confirming transaction (parking.invoices.service.on_payment_confirmed).
    issue_invoices: bool = True
    # For a linked charge confirmed inside the exit decision, enqueue the invoices module's `invoice.issue`
    # outbox message (same transaction, issued moments later) instead of issuing inline: keeps XML
    # building and signing off the barrier's critical path. Off by default (inline, as agreed).
    invoice_at_exit_via_outbox: bool = False

    driver_token_ttl_days: int = Field(30, gt=0)


_override: PaymentSettings | None = None


def use_payment_settings(settings: PaymentSettings | None) -> None:
    """Install explicit settings (tests, the demo runner); None goes back to the environment."""
    global _override
    _override = settings


@lru_cache
def _from_env() -> PaymentSettings:
    return PaymentSettings()


def get_payment_settings() -> PaymentSettings:
    return _override or _from_env()
