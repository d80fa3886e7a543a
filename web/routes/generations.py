"""A generation after it was submitted: its record, its stream (resume), its cancellation."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel
from starlette.responses import Response

from shared.errors import Gone, InvalidRequest, NotFound
from shared.models import Generation, GenerationStatus
from shared.services import generations
from shared.stream import log_key
from web import delivery, sse
from web.deps import StateDep
from web.relay import Relay

router = APIRouter(prefix="/api/v1/generations", tags=["generations"])


class GenerationOut(BaseModel):
    id: uuid.UUID
    status: str
    llm_model: str
    stream: bool
    prompt: str | None
    response: str | None
    error_type: str | None
    error_message: str | None
    done_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    chunk_count: int
    attempts: int
    queued_at: datetime
    started_at: datetime | None
    first_token_at: datetime | None
    finished_at: datetime | None
    total_duration_ns: int | None
    load_duration_ns: int | None
    prompt_eval_duration_ns: int | None
    eval_duration_ns: int | None


class CancelOut(BaseModel):
    id: uuid.UUID
    status: str


async def _find(state: StateDep, generation_id: uuid.UUID) -> Generation:
    async with state.sessions() as session:
        row = await generations.get_generation(session, generation_id=generation_id)
    if row is None:
        raise NotFound(f"no generation {generation_id}")
    return row


@router.get("/{generation_id}", response_model=GenerationOut)
async def get_generation(generation_id: uuid.UUID, state: StateDep) -> Generation:
    """A generation's record: status, timestamps, token counts, Ollama's timings, text."""
    return await _find(state, generation_id)


def _after(header: str | None, query: int | None) -> int:
    raw = header if header is not None else query
    if raw is None:
        return 0
    try:
        after = int(raw)
    except ValueError:
        raise InvalidRequest("Last-Event-ID must be an event id (an integer)") from None
    if after < 0:
        raise InvalidRequest("Last-Event-ID must not be negative")
    return after


@router.get("/{generation_id}/stream", responses={410: {"description": "Past its retention."}})
async def resume_stream(
    generation_id: uuid.UUID,
    state: StateDep,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(alias="last_event_id")] = None,
) -> Response:
    """The generation's events after Last-Event-ID (header or query): logged, then live."""
    after_seq = _after(last_event_id, after)
    row = await _find(state, generation_id)
    gid = str(generation_id)
    if GenerationStatus(row.status).is_final and not await state.redis.exists(log_key(gid)):
        retention = state.settings.STREAM_RETENTION_SECONDS
        raise Gone(f"the stream of generation {gid} ended more than {retention} s ago")
    relay = Relay(
        state.hub,
        state.redis,
        gid,
        bounds=state.wait_bounds,
        keepalive=state.settings.STREAM_KEEPALIVE_SECONDS,
        after_seq=after_seq,
        replay=True,
        first_tick=0.0,
    )
    await relay.open()
    await state.cancellations.attach(gid)
    return await delivery.stream(relay, sse.FRAMING, state.cancellations)


@router.post("/{generation_id}/cancel", response_model=CancelOut)
async def cancel_generation(generation_id: uuid.UUID, state: StateDep) -> CancelOut:
    """Cancel a generation; idempotent. `running` means its worker is stopping it now."""
    status = await state.cancellations.cancel(str(generation_id))
    if status is None:
        raise NotFound(f"no generation {generation_id}")
    return CancelOut(id=generation_id, status=status.value)
