"""Reconciliation settings (env prefix ``PARKING_RECON_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReconSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARKING_RECON_", env_file=".env", extra="ignore")

    enabled: bool = True  # the nightly job in the platform process
    run_at: str = Field("02:30", pattern=r"^\d{2}:\d{2}$")  # local time (Asia/Ho_Chi_Minh), for the previous day
    catch_up_days: int = Field(3, ge=0, le=31)  # nights missed while down, run at the next start
    # Payments from these providers arrive straight on the operator's bank statement (bank-transfer
    # monitoring); every other provider settles through its own settlement report.
    statement_providers: list[str] = ["sepay"]
    window_before_min: int = 15
    window_after_h: int = 48
    fallback_min: int = 30
    # A payment confirmed this close to midnight with no credit yet is carried over (late_settlement).
    late_cutoff_min: int = 60
    transfer_limit_h: int = 24
    auto_refund_limit_vnd: int = Field(50_000, ge=0)  # duplicate credits up to this are refunded at once
    heal_limit: int = Field(5_000, ge=0)  # bounded: at most this many healing steps of each kind per run
    # Memory PostgreSQL may use per sort/hash of a run or an import (SET LOCAL, this transaction only): a
    # million-line day sorts and hashes in memory instead of spilling to disk.
    work_mem_mb: int = Field(128, ge=4, le=2048)


@lru_cache
def get_recon_settings() -> ReconSettings:
    return ReconSettings()
