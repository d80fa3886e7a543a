"""The page and its files, open without a key (the API behind them checks every call)."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse, Response
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"

# The page runs only its own files and talks only to its own origin: text a model produced can
# never run as script, and nothing on the page loads from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # A new version of the page is picked up at once (the files are small).
    "Cache-Control": "no-cache",
}


class UiFiles(StaticFiles):
    """The page's scripts and styles, with the page's headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


router = APIRouter(include_in_schema=False)
router.mount("/ui/static", UiFiles(directory=STATIC), name="ui-static")


@router.get("/ui")
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)
