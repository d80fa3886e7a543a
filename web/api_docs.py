"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), open without a key.

FastAPI's own pages load their scripts and styles from a CDN, so a private deployment without
internet access shows blank pages. These are the same pages with the copies of Swagger UI and
ReDoc that the `fastapi-offline` package ships (its version is pinned in poetry.lock), served by
the API itself from that package's installed `static/` folder.
"""

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS = Path(fastapi_offline.__file__).parent / "static"
STATIC = "/docs/static"
# Images only from here: ReDoc shows its logo from cdn.redoc.ly, which a closed network would
# leave the browser waiting for.
HEADERS = {"Content-Security-Policy": "img-src 'self' data:"}
# Swagger UI sends the schema's URL to validator.swagger.io for a badge (for any host but
# localhost): a private deployment's address stays private.
SWAGGER_PARAMETERS = {"validatorUrl": None}

router = APIRouter(include_in_schema=False)
router.mount(STATIC, StaticFiles(directory=ASSETS), name="docs-static")


def _base(request: Request) -> str:
    """The path prefix a proxy may mount the API under (uvicorn's --root-path)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    base = _base(request)
    page = get_swagger_ui_html(
        openapi_url=f"{base}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{base}{STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{base}{STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{base}{STATIC}/favicon.png",
        oauth2_redirect_url=None,
        swagger_ui_parameters={**SWAGGER_PARAMETERS, **(request.app.swagger_ui_parameters or {})},
    )
    page.headers.update(HEADERS)
    return page


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    base = _base(request)
    page = get_redoc_html(
        openapi_url=f"{base}{request.app.openapi_url}",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{base}{STATIC}/redoc.standalone.js",
        redoc_favicon_url=f"{base}{STATIC}/favicon.png",
        with_google_fonts=False,
    )
    page.headers.update(HEADERS)
    return page
