"""The OpenAI dialect: /v1/chat/completions, /v1/completions, /v1/models.

Same queue, workers, records, limits and cancellation as the native endpoint; only the shapes
differ (web/dialects/openai.py). Point the official SDK at it: `OpenAI(base_url=".../v1",
api_key=<key>)`.
"""

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from web import delivery
from web.auth import Principal
from web.delivery import Framing
from web.deps import PrincipalDep, StateDep
from web.dialects import openai, resolve_model
from web.state import AppState
from web.submit import submit_generation

router = APIRouter(prefix="/v1", tags=["openai"])

UNKNOWN = "The model `{name}` does not exist or you do not have access to it."


async def _complete(
    state: AppState,
    request: Request,
    principal: Principal,
    body: openai.ChatRequest | openai.CompletionRequest,
) -> Response:
    chat = isinstance(body, openai.ChatRequest)
    ollama_request = body.to_ollama(resolve_model(state.settings, body.model, UNKNOWN))
    relay = await submit_generation(
        state,
        principal,
        kind="chat" if chat else "generate",
        request=ollama_request,
        stream=body.stream,
    )
    completion = openai.Completion(
        chat=chat,
        generation_id=relay.generation_id,
        model=body.model,
        include_usage=body.include_usage,
    )
    framing = Framing(
        media_type="text/event-stream",
        encode=completion.encode,
        error=completion.error,
        keepalive=openai.KEEPALIVE,
        headers=openai.HEADERS,
    )
    return await delivery.respond(
        relay,
        request,
        state.cancellations,
        state.queue,
        framing=framing if body.stream else None,
        whole=lambda whole: completion.whole(whole.text, whole.stats),
    )


@router.post("/chat/completions")
async def chat_completions(
    body: openai.ChatRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """OpenAI's chat completions, streamed or whole, on the server's queue."""
    return await _complete(state, request, principal, body)


@router.post("/completions")
async def completions(
    body: openai.CompletionRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """OpenAI's (legacy) text completions, streamed or whole."""
    return await _complete(state, request, principal, body)


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "ollama"}


@router.get("/models")
async def list_models(state: StateDep, _: PrincipalDep) -> dict[str, Any]:
    """The models a key may use."""
    return {"object": "list", "data": [_model_object(m) for m in state.settings.allowed_models]}


@router.get("/models/{name:path}")
async def get_model(name: str, state: StateDep, _: PrincipalDep) -> dict[str, Any]:
    """One model, if a key may use it."""
    return _model_object(resolve_model(state.settings, name, UNKNOWN))
