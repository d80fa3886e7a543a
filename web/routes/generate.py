"""POST /api/v1/generate: the native endpoint, as the seed defines it (web/dialects/native.py)."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from web.deps import PrincipalDep, StateDep
from web.dialects import native
from web.generations.submit import answer

router = APIRouter(prefix="/api/v1", tags=["generate"], route_class=native.DIALECT.route_class)

ERROR_RESPONSES: dict[int | str, dict] = {
    401: {"description": "No API key, or not a valid one."},
    413: {"description": "The body is larger than MAX_BODY_BYTES."},
    422: {"description": "The body is not a valid request (missing, empty or too long prompt)."},
    429: {"description": "The key's requests per minute or concurrent generations are spent."},
    502: {"description": "Ollama failed, or does not have the model."},
    503: {"description": "The queue is full; Ollama, Redis or PostgreSQL is unavailable."},
    504: {"description": "Ollama was too slow."},
}


@router.post(
    "/generate",
    response_model=native.GenerateResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or an SSE stream."},
        **ERROR_RESPONSES,
    },
)
async def generate(
    body: native.GenerateRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """Generate text with the server's model: the whole answer as JSON, or a stream of events."""
    return await answer(state, request, principal, body)
