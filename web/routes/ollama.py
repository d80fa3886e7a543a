"""The Ollama dialect: /api/generate, /api/chat, /api/tags, /api/version, and `/`.

Puts keys, limits and a queue in front of Ollama: `ollama.Client(host="http://server:8000",
headers={"Authorization": "Bearer <key>"})` works unchanged (web/dialects/ollama.py).
"""

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from web.deps import PrincipalDep, StateDep
from web.dialects import ollama
from web.generations.submit import answer

router = APIRouter(tags=["ollama"], route_class=ollama.DIALECT.route_class)


@router.post("/api/generate")
async def generate(
    body: ollama.GenerateRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """Ollama's /api/generate, on the server's queue."""
    return await answer(state, request, principal, body)


@router.post("/api/chat")
async def chat(
    body: ollama.ChatRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """Ollama's /api/chat, on the server's queue."""
    return await answer(state, request, principal, body)


@router.get("/api/tags")
async def tags(state: StateDep, _: PrincipalDep) -> dict[str, Any]:
    """The models a key may use, in Ollama's shape."""
    models = [
        {
            "name": m,
            "model": m,
            "modified_at": "1970-01-01T00:00:00Z",
            "size": 0,
            "digest": "",
            "details": {},
        }
        for m in state.settings.allowed_models
    ]
    return {"models": models}


@router.get("/api/version")
async def version(state: StateDep, _: PrincipalDep) -> dict[str, str]:
    """The version of the Ollama the workers reach (as their heartbeats report it)."""
    snapshot = await state.queue.snapshot()
    seen = [w.get("ollama", {}).get("version") for w in snapshot.workers_detail]
    return {"version": next((v for v in seen if v), "0.0.0")}


@router.get("/", response_class=PlainTextResponse, include_in_schema=False)
async def root() -> str:
    """What Ollama answers at `/`, for tools that check for it."""
    return "Ollama is running"
