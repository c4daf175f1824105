"""Console test helpers: log in through the HTML form like a browser does."""

from __future__ import annotations

import re

import httpx


async def console_login(c: httpx.AsyncClient, email: str, password: str) -> str:
    """Log in through /console/login; returns the session's CSRF token (from the page's meta tag)."""
    form = await c.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text[:500]
    r = await c.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": token.group(1), "next": "/console"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/console", (r.status_code, r.headers)
    page = await c.get("/console")
    assert page.status_code == 200, page.text[:2000]
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert meta
    return meta.group(1)
