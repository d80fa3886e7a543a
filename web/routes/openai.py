"""The OpenAI dialect: /v1/chat/completions, /v1/completions, /v1/models.

Same queue, workers, records, limits and cancellation as the native endpoint; only the shapes
differ (web/dialects/openai.py). Point the official SDK at it: `OpenAI(base_url=".../v1",
api_key=<key>)`.
"""

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from web.deps import PrincipalDep, StateDep
from web.dialects import openai
from web.generations.submit import answer

router = APIRouter(prefix="/v1", tags=["openai"], route_class=openai.DIALECT.route_class)


@router.post("/chat/completions")
async def chat_completions(
    body: openai.ChatRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """OpenAI's chat completions, streamed or whole, on the server's queue."""
    return await answer(state, request, principal, body)


@router.post("/completions")
async def completions(
    body: openai.CompletionRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """OpenAI's (legacy) text completions, streamed or whole."""
    return await answer(state, request, principal, body)


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "ollama"}


@router.get("/models")
async def list_models(state: StateDep, _: PrincipalDep) -> dict[str, Any]:
    """The models a key may use."""
    return {"object": "list", "data": [_model_object(m) for m in state.settings.allowed_models]}


@router.get("/models/{name:path}")
async def get_model(name: str, state: StateDep, _: PrincipalDep) -> dict[str, Any]:
    """One model, if a key may use it."""
    return _model_object(openai.DIALECT.resolve_model(state.settings, name))
