"""Submit a generation: record it, listen for it, then queue it, in that order.

Listening before queueing means no event can be published before this process hears it; the
record exists before any worker can try to update it.
"""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from shared.jobs import GenerationJob, enqueue_generation
from shared.models import GenerationStatus
from web.relay import Relay
from web.state import AppState


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
    results = await asyncio.gather(state.records.insert(row), relay.open(), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        await relay.close()
        raise failures[0]
    job = GenerationJob(generation_id=generation_id, kind=kind, request=request, stream=stream)
    try:
        await enqueue_generation(state.redis, job, expires_s=settings.QUEUE_TIMEOUT_SECONDS)
    except BaseException:
        await relay.close()
        raise
    return relay
