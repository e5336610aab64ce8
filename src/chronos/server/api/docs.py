"""``/docs``: Swagger UI served from the package, so it works offline and behind a firewall.

The page loads only same-origin files: the vendored ``swagger-ui-bundle.js`` and
``swagger-ui.css`` (``scripts/vendor-frontend.sh`` records their versions and checksums in
``dashboard/static/vendor/vendor.json``) and ``swagger-init.js``, which starts Swagger UI on
``/openapi.json``. No inline script, so the page carries the dashboard's strict
Content-Security-Policy.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException

from chronos.server.dashboard.render import HERE
from chronos.server.dashboard.routing import SECURITY_HEADERS

STATIC = HERE / "static"
# The only files /docs/assets/ serves: name → (path, content type).
ASSETS = {
    "swagger-ui-bundle.js": (STATIC / "vendor" / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (STATIC / "vendor" / "swagger-ui.css", "text/css"),
    "swagger-init.js": (STATIC / "swagger-init.js", "text/javascript"),
}
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-init.js"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """Add ``GET /docs`` and its assets (the app is built with ``docs_url=None``)."""
    router = APIRouter(include_in_schema=False)
    page = PAGE.format(title=app.title, openapi_url=app.openapi_url or "/openapi.json")

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    @router.get("/docs/assets/{name}")
    async def docs_asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise HTTPException(404, "no such file")
        path, media_type = ASSETS[name]
        headers = {"Cache-Control": "public, max-age=86400", **SECURITY_HEADERS}
        return FileResponse(path, media_type=media_type, headers=headers)

    app.include_router(router)
