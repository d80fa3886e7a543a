"""The OpenAI dialect: /v1/chat/completions, /v1/completions, /v1/models.

Same queue, workers, records, limits and cancellation as the native endpoint; only the shapes
differ (web/dialects/openai.py). Point the official SDK at it: `OpenAI(base_url=".../v1",
api_key=<key>)`.
"""

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from shared.errors import UnknownModel
from web import delivery
from web.delivery import ClientGone, Framing
from web.deps import PrincipalDep, StateDep
from web.dialects import openai
from web.relay import Relay
from web.responses import JSON
from web.submit import submit_generation

router = APIRouter(prefix="/v1", tags=["openai"])


def _model(state: StateDep, name: str) -> str:
    model = state.settings.allowed_model(name)
    if model is None:
        raise UnknownModel(f"The model `{name}` does not exist or you do not have access to it.")
    return model


async def _answer(
    state: StateDep, request: Request, relay: Relay, completion: openai.Completion, stream: bool
) -> Response:
    headers = {"X-Generation-ID": relay.generation_id}
    if stream:
        framing = Framing(
            media_type="text/event-stream",
            encode=completion.encode,
            error=completion.error,
            keepalive=openai.KEEPALIVE,
            headers=openai.HEADERS,
        )
        return await delivery.stream(relay, framing, state.cancellations, state.queue)
    try:
        whole = await delivery.collect_whole(relay, request, state.cancellations)
    except ClientGone:
        return Response(status_code=499)
    return JSON(completion.whole(whole.text, whole.stats), headers=headers)


@router.post("/chat/completions")
async def chat_completions(
    body: openai.ChatRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """OpenAI's chat completions, streamed or whole, on the server's queue."""
    model = _model(state, body.model)
    ollama_request = body.to_ollama(model)
    relay = await submit_generation(
        state,
        principal,
        kind="chat",
        request=ollama_request,
        stream=body.stream,
    )
    completion = openai.Completion(
        chat=True,
        generation_id=relay.generation_id,
        model=body.model,
        include_usage=body.include_usage,
    )
    return await _answer(state, request, relay, completion, body.stream)


@router.post("/completions")
async def completions(
    body: openai.CompletionRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """OpenAI's (legacy) text completions, streamed or whole."""
    model = _model(state, body.model)
    ollama_request = body.to_ollama(model)
    relay = await submit_generation(
        state,
        principal,
        kind="generate",
        request=ollama_request,
        stream=body.stream,
    )
    completion = openai.Completion(
        chat=False,
        generation_id=relay.generation_id,
        model=body.model,
        include_usage=body.include_usage,
    )
    return await _answer(state, request, relay, completion, body.stream)


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "ollama"}


@router.get("/models")
async def list_models(state: StateDep, _: PrincipalDep) -> dict[str, Any]:
    """The models a key may use."""
    return {"object": "list", "data": [_model_object(m) for m in state.settings.allowed_models]}


@router.get("/models/{name:path}")
async def get_model(name: str, state: StateDep, _: PrincipalDep) -> dict[str, Any]:
    """One model, if a key may use it."""
    return _model_object(_model(state, name))
