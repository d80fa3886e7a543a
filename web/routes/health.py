"""Health: is the process alive?"""

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive; checks no dependency."""
    return {"status": "ok"}
