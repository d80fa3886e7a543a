"""Submit a generation: admit it, record it, listen for it, then queue it, in that order.

Listening before queueing means no event can be published before this process hears it; the
record exists before any worker can try to update it. A full queue is refused before any work.
"""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from shared.errors import QueueFull
from shared.jobs import GenerationJob, admit, enqueue_generation, leave_queue
from shared.models import GenerationStatus
from web.relay import Relay
from web.state import AppState

# Retry-After for a full queue. A guess until the queue reports its own throughput: long enough
# not to hammer a saturated server, short enough for an interactive client.
FULL_QUEUE_RETRY_AFTER_SECONDS = 5


async def submit_generation(
    state: AppState,
    *,
    kind: Literal["generate", "chat"],
    request: dict[str, Any],
    prompt: str,
    stream: bool,
) -> Relay:
    """Start a generation and return its relay, open and listening."""
    settings = state.settings
    generation_id = str(uuid.uuid4())
    depth = await admit(
        state.redis,
        generation_id,
        max_depth=settings.MAX_QUEUE_DEPTH,
        timeout_s=settings.QUEUE_TIMEOUT_SECONDS,
    )
    if depth < 0:
        raise QueueFull(
            f"the queue is full ({-depth} generations waiting); try again later",
            retry_after=FULL_QUEUE_RETRY_AFTER_SECONDS,
        )
    relay = Relay(
        state.hub,
        state.redis,
        generation_id,
        bounds=state.wait_bounds,
        keepalive=settings.STREAM_KEEPALIVE_SECONDS,
        first_tick=min(1.0, settings.STREAM_KEEPALIVE_SECONDS),
    )
    row = {
        "id": uuid.UUID(generation_id),
        "status": GenerationStatus.QUEUED.value,
        "llm_model": str(request["model"]),
        "stream": stream,
        "prompt": prompt,
        "queued_at": datetime.now(UTC),
        "chunk_count": 0,
        "attempts": 0,
    }
    try:
        results = await asyncio.gather(
            state.records.insert(row), relay.open(), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
        job = GenerationJob(generation_id=generation_id, kind=kind, request=request, stream=stream)
        await enqueue_generation(
            state.redis,
            job,
            expires_s=settings.QUEUE_TIMEOUT_SECONDS,
            clients_ttl_s=state.cancellations.clients_ttl,
        )
    except BaseException:
        relay.close()
        await leave_queue(state.redis, generation_id)
        raise
    return relay
