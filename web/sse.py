"""Server-Sent Events framing for generations: the seed's format, byte for byte.

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
"""

from shared.stream import CHUNK, DONE, ERROR, Event
from web.delivery import Framing
from web.responses import dumps

KEEPALIVE = b": keep-alive\n\n"
HEADERS = {
    "Cache-Control": "no-cache",
    # Tells nginx (and proxies that follow it) not to buffer the stream.
    "X-Accel-Buffering": "no",
}


def queued_event(status: dict) -> bytes:
    # `response` is empty, so a client that joins every event's `response` is not disturbed;
    # a browser's EventSource passes a named event only to listeners for "queued".
    return b'event: queued\ndata: {"response": "", "queue": %s}\n\n' % dumps(status)


def error_event(seq: int, error: dict) -> bytes:
    return b"id: %d\nevent: error\ndata: %s\n\n" % (seq, dumps({"error": error}))


def encode(events: list[Event]) -> bytes:
    """The wire bytes for a batch of events; start events are not shown to clients."""
    parts: list[bytes] = []
    for event in events:
        if event.type == CHUNK:
            parts.append(b'id: %d\ndata: {"response": %s}\n\n' % (event.seq, dumps(event.payload)))
        elif event.type == DONE:
            parts.append(b"id: %d\ndata: {}\n\n" % event.seq)
        elif event.type == ERROR:
            parts.append(error_event(event.seq, event.payload))
    return b"".join(parts)


FRAMING = Framing(
    media_type="text/event-stream",
    encode=encode,
    error=error_event,
    keepalive=KEEPALIVE,
    headers=HEADERS,
    queued=queued_event,
)
