"""POST /api/v1/generate: the native endpoint, as the seed defines it."""

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from starlette.responses import Response

from web import delivery, sse
from web.deps import PrincipalDep, StateDep
from web.submit import submit_generation

router = APIRouter(prefix="/api/v1", tags=["generate"])


class GenerateRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"prompt": "Why is the sky blue?"}]})

    prompt: StrictStr = Field(min_length=1, description="The input text for the model.")
    stream: StrictBool = Field(
        default=False, description="Stream the answer as Server-Sent Events."
    )


class GenerateResponse(BaseModel):
    response: str
    id: str


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
    response_model=GenerateResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or an SSE stream."},
        **ERROR_RESPONSES,
    },
)
async def generate(
    body: GenerateRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """Generate text with the server's model: the whole answer as JSON, or a stream of events."""
    ollama_request = {"model": state.settings.OLLAMA_MODEL, "prompt": body.prompt}
    relay = await submit_generation(
        state,
        principal,
        kind="generate",
        request=ollama_request,
        stream=body.stream,
    )
    return await delivery.respond(
        relay,
        request,
        state.cancellations,
        state.queue,
        framing=sse.FRAMING if body.stream else None,
        whole=lambda whole: {"response": whole.text, "id": relay.generation_id},
    )
