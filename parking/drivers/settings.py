"""Settings of the driver's and the city's side (env prefix ``PARKING_DRIVERS_``): find-a-space, sign-in."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DriverSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARKING_DRIVERS_", env_file=".env", extra="ignore")

    # Public find-a-space: requests per client address per minute (a map app polls; a scraper is cut off).
    places_rate_per_minute: int = Field(120, gt=0)
    places_max_radius_m: int = Field(50_000, gt=0)

    # OpenID Connect: the trusted identity provider (iHanoi in production, simulators/identity_provider in the
    # demo). Unset issuer → OIDC sign-in is refused.
    oidc_issuer: str | None = "http://127.0.0.1:8300"
    oidc_audience: str = "parking-hanoi"
    # Accepted clock skew between the provider and us, in seconds.
    oidc_leeway_s: int = Field(30, ge=0, le=300)
    oidc_jwks_cache_s: int = Field(300, gt=0)


_override: DriverSettings | None = None


def use_driver_settings(settings: DriverSettings | None) -> None:
    """Install explicit settings (tests, the demo runner); None goes back to the environment."""
    global _override
    _override = settings


@lru_cache
def _from_env() -> DriverSettings:
    return DriverSettings()


def get_driver_settings() -> DriverSettings:
    return _override or _from_env()
