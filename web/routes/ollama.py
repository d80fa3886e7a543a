"""The Ollama dialect: /api/generate, /api/chat, /api/tags, /api/version, and `/`.

Puts keys, limits and a queue in front of Ollama: `ollama.Client(host="http://server:8000",
headers={"Authorization": "Bearer <key>"})` works unchanged (web/dialects/ollama.py).
"""

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from shared.errors import UnknownModel
from web import delivery
from web.delivery import ClientGone, Framing
from web.deps import PrincipalDep, StateDep
from web.dialects import ollama
from web.relay import Relay
from web.responses import JSON
from web.submit import submit_generation

router = APIRouter(tags=["ollama"])


def _model(state: StateDep, name: str) -> str:
    model = state.settings.allowed_model(name)
    if model is None:
        raise UnknownModel(f'model "{name}" not found, try pulling it first')
    return model


async def _answer(
    state: StateDep, request: Request, relay: Relay, reply: ollama.Reply, stream: bool
) -> Response:
    if stream:
        # NDJSON has no comment line: like Ollama, nothing is sent while the request waits.
        framing = Framing(
            media_type="application/x-ndjson",
            encode=reply.encode,
            error=reply.error,
            keepalive=b"",
            headers={"X-Accel-Buffering": "no"},
        )
        return await delivery.stream(relay, framing, state.cancellations, state.queue)
    try:
        whole = await delivery.collect_whole(relay, request, state.cancellations)
    except ClientGone:
        return Response(status_code=499)
    headers = {"X-Generation-ID": relay.generation_id}
    return JSON(reply.final(whole.text, whole.stats), headers=headers)


@router.post("/api/generate")
async def generate(
    body: ollama.GenerateRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """Ollama's /api/generate, on the server's queue."""
    ollama_request = ollama.to_ollama(body, _model(state, body.model), ollama.GENERATE_FIELDS)
    relay = await submit_generation(
        state,
        principal,
        kind="generate",
        request=ollama_request,
        stream=body.stream,
    )
    return await _answer(
        state, request, relay, ollama.Reply(chat=False, model=body.model), body.stream
    )


@router.post("/api/chat")
async def chat(
    body: ollama.ChatRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """Ollama's /api/chat, on the server's queue."""
    ollama_request = ollama.to_ollama(body, _model(state, body.model), ollama.CHAT_FIELDS)
    relay = await submit_generation(
        state,
        principal,
        kind="chat",
        request=ollama_request,
        stream=body.stream,
    )
    return await _answer(
        state, request, relay, ollama.Reply(chat=True, model=body.model), body.stream
    )


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
    versions = [
        w["ollama"].get("version")
        for w in snapshot.workers_detail
        if w.get("ollama", {}).get("version")
    ]
    return {"version": versions[0] if versions else "0.0.0"}


@router.get("/", response_class=PlainTextResponse, include_in_schema=False)
async def root() -> str:
    """What Ollama answers at `/`, for tools that check for it."""
    return "Ollama is running"
