"""Verify OpenID Connect ID tokens of the trusted identity provider (the city's sign-in) with joserfc.

Signature against the provider's JWKS (found through its discovery document, cached, refetched once when a
token names an unknown key: the provider rotated), then issuer, audience, expiry (with a small leeway) and
subject. Only asymmetric algorithms are accepted, so a token cannot be "signed" with a public key as an HMAC
secret, and ``alg: none`` is never accepted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

import httpx
import structlog
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from parking.drivers.settings import DriverSettings
from parking.kit.errors import AppError

log = structlog.get_logger("parking.oidc")

ALGORITHMS = ["RS256", "ES256", "PS256"]


@dataclass(frozen=True)
class Registration:
    """A vehicle the identity provider asserts belongs to the subject."""

    plate: str
    vehicle_class: str
    since: datetime | None


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str
    name: str
    registrations: tuple[Registration, ...]
    nonce: str | None = None


class JwksCache:
    def __init__(self) -> None:
        self._keys: dict[str, tuple[float, KeySet]] = {}

    async def get(self, issuer: str, ttl_s: int, *, refresh: bool = False) -> KeySet:
        hit = self._keys.get(issuer)
        if hit and not refresh and time.monotonic() - hit[0] < ttl_s:
            return hit[1]
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                disc = (await http.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration")).json()
                if disc.get("issuer") != issuer:
                    raise AppError(
                        "identity_provider_misconfigured", "The provider's discovery names another issuer.", 503
                    )
                keys = (await http.get(disc["jwks_uri"])).json()
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("oidc.jwks_unavailable", issuer=issuer, error=str(exc))
            if hit:
                return hit[1]  # keep signing people in with the keys we have
            raise AppError(
                "identity_provider_unavailable", "The identity provider cannot be reached; try again.", 503
            ) from None
        ks = KeySet.import_key_set(keys)
        self._keys[issuer] = (time.monotonic(), ks)
        return ks


_cache = JwksCache()


def _since(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(str(value)), dtime(0), tzinfo=UTC)
    except ValueError:
        return None


def _header(token: str) -> dict[str, Any] | None:
    """The token's protected header, or None when it is not a compact JWS at all."""
    try:
        from joserfc import jws

        return dict(jws.extract_compact(token.encode()).protected)
    except (JoseError, ValueError, UnicodeError):
        return None


async def verify_id_token(token: str, settings: DriverSettings, *, cache: JwksCache | None = None) -> Identity:
    issuer = settings.oidc_issuer
    if not issuer:
        raise AppError("oidc_disabled", "Sign-in through the city's identity provider is not configured.", 503)
    header = _header(token)
    if header is None or header.get("alg") not in ALGORITHMS:
        # Refused before the provider is asked for keys: a string that is not a signed token of an accepted
        # algorithm is the caller's error (401), whether or not the provider is reachable right now.
        raise AppError("invalid_id_token", "The identity token is not a signed JWT.", 401, {"reason": "malformed"})
    cache = cache or _cache
    # Refuse what cannot be a token of our provider before asking it for keys: malformed input is the caller's
    # error (401), never a reason to depend on the provider being up.
    try:
        from joserfc import jws

        unverified = jws.extract_compact(token.encode())
        claimed = json.loads(unverified.payload)
    except (JoseError, ValueError, UnicodeDecodeError):
        raise AppError("invalid_id_token", "The identity token is not a signed JWT.", 401) from None
    if not isinstance(claimed, dict) or claimed.get("iss") != issuer:
        raise AppError("invalid_id_token", "The identity token is not from the trusted provider.", 401) from None
    keys = await cache.get(issuer, settings.oidc_jwks_cache_s)
    kid = header.get("kid")
    if kid is not None and all(k.kid != kid for k in keys.keys):
        keys = await cache.get(issuer, settings.oidc_jwks_cache_s, refresh=True)
    try:
        decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            leeway=settings.oidc_leeway_s,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": settings.oidc_audience},
            exp={"essential": True},
            sub={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        code = getattr(exc, "error", "invalid_token")
        raise AppError("invalid_id_token", f"The identity token is not valid: {exc}", 401, {"reason": code}) from None
    claims = decoded.claims
    regs = []
    for v in claims.get("vehicle_registrations") or []:
        if isinstance(v, dict) and v.get("plate"):
            regs.append(Registration(str(v["plate"]), str(v.get("vehicle_class", "")), _since(v.get("since"))))
    nonce = claims.get("nonce")
    return Identity(
        issuer, str(claims["sub"]), str(claims.get("name") or ""), tuple(regs), str(nonce) if nonce else None
    )


async def exchange_code(settings: DriverSettings, *, code: str, redirect_uri: str) -> str:
    """Authorization-code flow: trade the code for the ID token at the provider's token endpoint."""
    issuer = settings.oidc_issuer
    if not issuer:
        raise AppError("oidc_disabled", "Sign-in through the city's identity provider is not configured.", 503)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            disc = (await http.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration")).json()
            r = await http.post(
                disc["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "client_id": settings.oidc_audience,
                },
            )
    except (httpx.HTTPError, ValueError, KeyError):
        raise AppError(
            "identity_provider_unavailable", "The identity provider cannot be reached; try again.", 503
        ) from None
    if r.status_code != 200 or "id_token" not in r.json():
        raise AppError("invalid_grant", "The identity provider refused the sign-in code.", 401)
    return str(r.json()["id_token"])


async def authorization_endpoint(settings: DriverSettings) -> str:
    issuer = settings.oidc_issuer
    if not issuer:
        raise AppError("oidc_disabled", "Sign-in through the city's identity provider is not configured.", 503)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            disc = (await http.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration")).json()
        return str(disc["authorization_endpoint"])
    except (httpx.HTTPError, ValueError, KeyError):
        raise AppError(
            "identity_provider_unavailable", "The identity provider cannot be reached; try again.", 503
        ) from None
