"""The API docs (Swagger UI) served from vendored assets: lots run offline, and the CSP allows no CDN and
no inline script (the page loads its initialiser from ``/docs/init.js``). Assets: the ``swagger-ui-bundle``
PyPI package. ReDoc is not served (no vendored build of it is packaged for Python)."""

from __future__ import annotations

import swagger_ui_bundle
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = "/static/swagger-ui"

PAGE = """<!DOCTYPE html>
<html lang="vi">
<head>
<meta charset="utf-8">
<title>{title} – API</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""

INIT = """window.ui = SwaggerUIBundle({{
  url: "{openapi}",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
}});
"""


def install_docs(app: FastAPI) -> None:
    openapi = app.openapi_url or "/openapi.json"
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger-ui")
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return HTMLResponse(PAGE.format(title=app.title, assets=ASSETS))

    @router.get("/docs/init.js")
    async def init() -> Response:
        return Response(INIT.format(openapi=openapi), media_type="application/javascript")

    app.include_router(router)
