"""The native API: `POST /api/v1/generate` as the seed defines it, and its Server-Sent Events,
byte for byte:

    id: 1                       (one per event: a reconnecting client sends it as Last-Event-ID)
    data: {"response": "<chunk>"}

    id: 9
    data: {}                    (the end)

    : keep-alive                (while nothing else is sent)

    event: queued               (instead of a keep-alive while the job waits for a worker)
    data: {"response": "", "queue": {"position": 2, "estimated_wait_seconds": 4.5}}

    id: 9
    event: error
    data: {"error": {"type": "...", "message": "..."}}

Text is JSON-encoded (orjson), so a newline, a quote or `data:` inside a token cannot break the
framing. Written by hand rather than with FastAPI's EventSourceResponse generator: that path
re-encodes each event through a pydantic model and a memory stream, and fixes its ping interval.
Errors are `{"error": {"type": ..., "message": ...}}`; an invalid body is 422.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from shared.config import Settings
from shared.errors import AppError
from shared.stream import CHUNK, DONE, ERROR, Event
from web.dialects import Dialect, OllamaCall, Reply, Whole
from web.responses import dumps


def error_body(error: AppError) -> dict[str, Any]:
    return {"error": error.to_dict()}


DIALECT = Dialect("native", error_body=error_body)

KEEPALIVE = b": keep-alive\n\n"
SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # Tells nginx (and proxies that follow it) not to buffer the stream.
    "X-Accel-Buffering": "no",
}


class GenerateRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"prompt": "Why is the sky blue?"}]})

    prompt: StrictStr = Field(min_length=1, description="The input text for the model.")
    stream: StrictBool = Field(
        default=False, description="Stream the answer as Server-Sent Events."
    )

    def to_ollama(self, settings: Settings) -> OllamaCall:
        """The server's model, always: the native request does not choose one."""
        return OllamaCall("generate", {"model": settings.OLLAMA_MODEL, "prompt": self.prompt})

    def reply(self, generation_id: str) -> "GenerationReply":
        return GenerationReply(generation_id)


class GenerateResponse(BaseModel):
    response: str
    id: str


def error_event(seq: int, error: dict[str, Any]) -> bytes:
    return b"id: %d\nevent: error\ndata: %s\n\n" % (seq, dumps({"error": error}))


class GenerationReply(Reply):
    keepalive = KEEPALIVE
    headers = SSE_HEADERS
    shows_queue = True

    def __init__(self, generation_id: str) -> None:
        self.generation_id = generation_id

    def encode(self, events: list[Event]) -> bytes:
        """The wire bytes for a batch of events; start events are not shown to clients."""
        parts: list[bytes] = []
        for event in events:
            if event.type == CHUNK:
                parts.append(
                    b'id: %d\ndata: {"response": %s}\n\n' % (event.seq, dumps(event.payload))
                )
            elif event.type == DONE:
                parts.append(b"id: %d\ndata: {}\n\n" % event.seq)
            elif event.type == ERROR:
                parts.append(error_event(event.seq, event.payload))
        return b"".join(parts)

    def error_event(self, seq: int, error: dict[str, Any]) -> bytes:
        return error_event(seq, error)

    def queued(self, status: dict[str, Any]) -> bytes:
        # `response` is empty, so a client that joins every event's `response` is not disturbed;
        # a browser's EventSource passes a named event only to listeners for "queued".
        return b'event: queued\ndata: {"response": "", "queue": %s}\n\n' % dumps(status)

    def whole(self, result: Whole) -> dict[str, Any]:
        return {"response": result.text, "id": self.generation_id}
