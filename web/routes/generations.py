"""A generation after it was submitted: its record, its stream (resume), its cancellation."""

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from starlette.responses import Response

from shared.errors import (
    Cancelled,
    Forbidden,
    InvalidRequest,
    NotFound,
    error_from_dict,
)
from shared.models import Generation, GenerationStatus
from shared.services import generations
from shared.stream import DONE, Event, parse_seq, produced, read_log
from web.auth import Principal
from web.deps import PrincipalDep, StateDep
from web.dialects import native
from web.generations.follow import follow, last_logged
from web.state import AppState

router = APIRouter(
    prefix="/api/v1/generations", tags=["generations"], route_class=native.DIALECT.route_class
)


class GenerationOut(BaseModel):
    id: uuid.UUID
    api_key_id: uuid.UUID | None = Field(description="The key that asked; null: the master key.")
    end_user: str | None = Field(description="Who behind the key asked, if the request said.")
    status: str
    llm_model: str
    stream: bool
    kind: str = Field(description="`generate`, `chat` or `embed` (what Ollama was asked)")
    prompt: str | None = Field(
        description="The prompt; a chat's messages or an embedding job's inputs as JSON; never "
        "images"
    )
    response: str | None
    thinking: str | None = Field(description="The model's reasoning, if it thought")
    tool_calls: list[dict[str, Any]] | None = Field(
        description="The tool calls it answered, in Ollama's shape"
    )
    input_count: int | None = Field(description="An embedding job's number of inputs")
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


class GenerationPage(BaseModel):
    data: list[GenerationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")


def encode_cursor(row: Generation) -> str:
    raw = orjson.dumps([row.queued_at.isoformat(), str(row.id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        queued_at, row_id = orjson.loads(raw)
        return datetime.fromisoformat(queued_at), uuid.UUID(row_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidRequest("cursor: not a cursor this API returned") from None


async def _find(state: AppState, principal: Principal, generation_id: uuid.UUID) -> Generation:
    """The caller's own generation; another key's is not found (404, not 403)."""
    async with state.sessions() as session:
        row = await generations.get_generation(
            session, generation_id=generation_id, api_key_id=principal.key_id
        )
    if row is None:
        raise NotFound(f"no generation {generation_id}")
    return row


@router.get("", response_model=GenerationPage)
async def list_generations(
    state: StateDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query()] = None,
    key: Annotated[
        str | None,
        Query(description="Master key only: `all` for every key's, or one key's id."),
    ] = None,
    user: Annotated[str | None, Query(description="Only this end user's.")] = None,
) -> GenerationPage:
    """The caller's generations, newest first, a page at a time."""
    before = decode_cursor(cursor) if cursor else None
    owner, every_key = principal.key_id, False
    if key is not None:
        if not principal.is_master:
            raise Forbidden("only the master key lists other keys' generations")
        every_key = key == "all"
        if not every_key:
            try:
                owner = uuid.UUID(key)
            except ValueError:
                raise InvalidRequest("key: `all` or an API key's id") from None
    async with state.sessions() as session:
        rows = await generations.list_generations(
            session,
            api_key_id=owner,
            limit=limit,
            before=before,
            every_key=every_key,
            end_user=user,
        )
    return GenerationPage(
        data=[GenerationOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=encode_cursor(rows[-1]) if len(rows) == limit else None,
    )


@router.get("/{generation_id}", response_model=GenerationOut)
async def get_generation(
    generation_id: uuid.UUID, state: StateDep, principal: PrincipalDep
) -> GenerationOut:
    """A generation's record: status, timestamps, token counts, Ollama's timings, text."""
    row = await _find(state, principal, generation_id)
    out = GenerationOut.model_validate(row, from_attributes=True)
    if GenerationStatus(row.status).is_final:
        return out
    # The worker sends the last event before it writes the record: a client that has its
    # answer and asks at once reads the outcome from the replay log (read-your-writes).
    try:
        events = await read_log(state.redis, state.keys, str(generation_id))
    except (RedisError, OSError):
        return out
    # A record keeps content only if it kept its prompt (STORE_CONTENT, a request's `store`).
    return with_outcome(out, events, store_content=row.prompt is not None)


def with_outcome(out: GenerationOut, events: list[Event], *, store_content: bool) -> GenerationOut:
    """The record as it will be once its outcome is written, if the log has the last event."""
    if not events or not events[-1].is_terminal:
        return out
    last = events[-1]
    carried = produced(events)
    update: dict[str, Any] = {"chunk_count": carried.chunks}
    if store_content:
        update["response"] = carried.text
        update["thinking"] = carried.thinking or None
        update["tool_calls"] = carried.tool_calls or None
    if last.type == DONE:
        stats = last.payload
        update |= {
            "status": GenerationStatus.SUCCEEDED.value,
            "done_reason": stats.get("done_reason"),
            "prompt_tokens": stats.get("prompt_eval_count"),
            "completion_tokens": stats.get("eval_count", carried.chunks),
            "total_duration_ns": stats.get("total_duration"),
            "load_duration_ns": stats.get("load_duration"),
            "prompt_eval_duration_ns": stats.get("prompt_eval_duration"),
            "eval_duration_ns": stats.get("eval_duration"),
        }
    else:
        error = error_from_dict(last.payload)
        cancelled = isinstance(error, Cancelled)
        status = GenerationStatus.CANCELLED if cancelled else GenerationStatus.FAILED
        update |= {"status": status.value, "error_type": error.type, "error_message": error.message}
    return out.model_copy(update=update)


def _after(header: str | None, query: str | None) -> int:
    raw = header if header is not None else query
    if raw is None:
        return 0
    try:
        return parse_seq(raw.strip())
    except ValueError:
        raise InvalidRequest(
            "Last-Event-ID must be an event id this API sent (a non-negative integer)"
        ) from None


@router.get("/{generation_id}/stream", responses={410: {"description": "Past its retention."}})
async def resume_stream(
    generation_id: uuid.UUID,
    state: StateDep,
    principal: PrincipalDep,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[str | None, Query(alias="last_event_id")] = None,
) -> Response:
    """The generation's events after Last-Event-ID (header or query): logged, then live. Each
    open one takes one of the key's stream places (as many as its concurrency limit)."""
    after_seq = _after(last_event_id, after)
    row = await _find(state, principal, generation_id)
    gid = str(generation_id)
    last = await last_logged(state, row)
    if last is not None and last.is_terminal and last.seq <= after_seq:
        # The client has it all. 204 is also what tells an EventSource to stop reconnecting.
        return Response(status_code=204, headers={"X-Generation-ID": gid})
    return await follow(state, principal, gid, native.GenerationReply(gid), after_seq=after_seq)


@router.post("/{generation_id}/cancel", response_model=CancelOut)
async def cancel_generation(
    generation_id: uuid.UUID, state: StateDep, principal: PrincipalDep
) -> CancelOut:
    """Cancel a generation; idempotent. `running` means its worker is stopping it now."""
    status = await state.cancellations.cancel(str(generation_id), api_key_id=principal.key_id)
    if status is None:
        raise NotFound(f"no generation {generation_id}")
    return CancelOut(id=generation_id, status=status.value)
