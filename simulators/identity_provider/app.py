"""A small OpenID Connect identity provider standing in for the city's (iHanoi / VNeID) sign-in.

A real HTTP service like the other simulators: discovery document, JWKS, an authorization endpoint for the
demo's browser sign-in (authorization code), a token endpoint, and a registry of vehicle registrations that
the provider asserts in its ID tokens (claim ``vehicle_registrations``: which plates belong to the subject,
as the registration authority's data would say). Tokens are RS256 JWTs signed with joserfc.

Test hooks (not part of OIDC): ``PUT /_registry/{sub}`` sets a subject's name and vehicles, and
``POST /token`` with ``grant_type=urn:sim:direct`` issues a token for a subject without a browser.
"""

from __future__ import annotations

import html
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from joserfc import jwt
from joserfc.jwk import RSAKey
from pydantic import BaseModel, Field

DEMO_SUBJECTS: dict[str, dict[str, Any]] = {
    "ihanoi-demo-001": {
        "name": "Nguyễn Văn An",
        "vehicles": [
            {"plate": "30E11122", "vehicle_class": "car_small", "since": "2024-01-15"},
            {"plate": "29X312345", "vehicle_class": "motorbike", "since": "2023-06-01"},
        ],
    },
    "ihanoi-demo-002": {
        "name": "Trần Thị Bình",
        "vehicles": [{"plate": "30G67890", "vehicle_class": "car_small", "since": "2025-03-10"}],
    },
}


@dataclass
class IdpConfig:
    issuer: str
    audience: str = "parking-hanoi"
    token_ttl_s: int = 3600
    preload_demo: bool = True
    subjects: dict[str, dict[str, Any]] = field(default_factory=dict)


class Vehicle(BaseModel):
    plate: str = Field(min_length=4, max_length=16)
    vehicle_class: str = Field(pattern="^(bicycle|motorbike|car_small|car_large)$")
    since: str | None = Field(None, description="registration date, YYYY-MM-DD")


class Subject(BaseModel):
    name: str = ""
    vehicles: list[Vehicle] = []


def create_app(cfg: IdpConfig) -> FastAPI:
    key = RSAKey.generate_key(2048, parameters={"kid": uuid.uuid4().hex[:12], "use": "sig", "alg": "RS256"})
    subjects: dict[str, dict[str, Any]] = {**(DEMO_SUBJECTS if cfg.preload_demo else {}), **cfg.subjects}
    codes: dict[str, dict[str, Any]] = {}  # authorization code -> what the token will say

    app = FastAPI(title="Identity provider simulator (OpenID Connect)")
    app.state.key = key

    def id_token(sub: str, audience: str, nonce: str | None, ttl_s: int) -> str:
        now = int(time.time())
        person = subjects.get(sub, {"name": "", "vehicles": []})
        claims: dict[str, Any] = {
            "iss": cfg.issuer,
            "sub": sub,
            "aud": audience,
            "iat": now,
            "exp": now + ttl_s,
            "name": person.get("name", ""),
            "vehicle_registrations": person.get("vehicles", []),
        }
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return {
            "issuer": cfg.issuer,
            "authorization_endpoint": f"{cfg.issuer}/authorize",
            "token_endpoint": f"{cfg.issuer}/token",
            "jwks_uri": f"{cfg.issuer}/jwks.json",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "name", "vehicle_registrations"],
        }

    @app.get("/jwks.json")
    async def jwks() -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False)]}

    @app.put("/_registry/{sub}")
    async def set_subject(sub: str, body: Subject) -> dict[str, Any]:
        subjects[sub] = body.model_dump()
        return {"sub": sub, **subjects[sub]}

    @app.get("/authorize", response_class=HTMLResponse, response_model=None)
    async def authorize(
        redirect_uri: str, state: str = "", nonce: str = "", client_id: str = "", login_hint: str = ""
    ) -> HTMLResponse | RedirectResponse:
        if login_hint:
            if login_hint not in subjects:
                raise HTTPException(404, "unknown subject")
            code = secrets.token_urlsafe(24)
            codes[code] = {"sub": login_hint, "nonce": nonce or None, "aud": client_id or cfg.audience}
            return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", status_code=302)
        links = "".join(
            f'<li><a href="/authorize?{html.escape(urlencode({"redirect_uri": redirect_uri, "state": state, "nonce": nonce, "client_id": client_id, "login_hint": sub}))}">'  # noqa: E501
            f"{html.escape(p.get('name') or sub)}</a></li>"
            for sub, p in subjects.items()
        )
        return HTMLResponse(
            "<!doctype html><html lang='vi'><meta name='viewport' content='width=device-width'>"
            f"<title>Đăng nhập iHanoi (mô phỏng)</title><h1>Đăng nhập iHanoi (mô phỏng)</h1><ul>{links}</ul></html>"
        )

    @app.post("/token")
    async def token(request: Request, grant_type: str = Form(...), code: str = Form(""), sub: str = Form(""),
                    audience: str = Form(""), nonce: str = Form(""), ttl_s: int = Form(0)) -> JSONResponse:  # fmt: skip
        if grant_type == "authorization_code":
            grant = codes.pop(code, None)
            if grant is None:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            tok = id_token(grant["sub"], grant["aud"], grant["nonce"], cfg.token_ttl_s)
        elif grant_type == "urn:sim:direct":
            if not sub:
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            tok = id_token(sub, audience or cfg.audience, nonce or None, ttl_s or cfg.token_ttl_s)
        else:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        return JSONResponse({"id_token": tok, "token_type": "Bearer", "expires_in": ttl_s or cfg.token_ttl_s})

    return app
