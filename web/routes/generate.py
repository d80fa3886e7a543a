"""POST /api/v1/generate: the native endpoint, as the seed defines it."""

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from starlette.responses import Response, StreamingResponse

from shared.errors import InvalidRequest, error_from_dict
from shared.stream import CHUNK, DONE, ERROR
from web import sse
from web.deps import StateDep
from web.relay import Relay
from web.responses import JSON
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
    413: {"description": "The body is larger than MAX_BODY_BYTES."},
    422: {"description": "The body is not a valid request (missing, empty or too long prompt)."},
    502: {"description": "Ollama failed, or does not have the model."},
    503: {"description": "Ollama, Redis or PostgreSQL is unavailable; the queue is full."},
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
async def generate(body: GenerateRequest, state: StateDep) -> Response:
    """Generate text with the server's model: the whole answer as JSON, or a stream of events."""
    settings = state.settings
    if len(body.prompt) > settings.MAX_PROMPT_CHARS:
        raise InvalidRequest(f"prompt: longer than MAX_PROMPT_CHARS ({settings.MAX_PROMPT_CHARS})")
    request = {"model": settings.OLLAMA_MODEL, "prompt": body.prompt}
    relay = await submit_generation(
        state, kind="generate", request=request, prompt=body.prompt, stream=body.stream
    )
    if body.stream:
        return await stream_response(relay)
    return await whole_response(relay)


async def whole_response(relay: Relay) -> Response:
    parts: list[str] = []
    try:
        async for batch in relay.batches():
            for event in batch:
                if event.type == CHUNK:
                    parts.append(event.payload)
                elif event.type == ERROR:
                    raise error_from_dict(event.payload)
    finally:
        await relay.close()
    headers = {"X-Generation-ID": relay.generation_id}
    return JSON({"response": "".join(parts), "id": relay.generation_id}, headers=headers)


async def stream_response(relay: Relay) -> Response:
    """Wait briefly for the first event, so a quick failure gets a real status, then stream."""
    batches = relay.batches()
    first: list = []
    try:
        async for batch in batches:
            first.extend(batch)
            if not batch or any(e.type in (CHUNK, DONE, ERROR) for e in batch):
                break
        if first and first[-1].type == ERROR and not any(e.type == CHUNK for e in first):
            raise error_from_dict(first[-1].payload)
    except BaseException:
        await batches.aclose()
        await relay.close()
        raise

    async def body():
        try:
            yield sse.encode(first) or sse.KEEPALIVE
            async for batch in batches:
                yield sse.encode(batch) if batch else sse.KEEPALIVE
        finally:
            await batches.aclose()
            await relay.close()

    headers = {**sse.HEADERS, "X-Generation-ID": relay.generation_id}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)
