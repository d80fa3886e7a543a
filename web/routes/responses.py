"""OpenAI's Responses API: `POST /v1/responses` (streamed, whole, or in the background),
`GET /v1/responses/{id}` (the response, or with `stream=true&starting_after=N` its events again,
exactly), `POST /v1/responses/{id}/cancel`.

A response is a generation (kind chat) on the same queue, limits, records and replay log as
every other; its id is `resp_` and the generation id's hex digits. Its record is its storage:
`store: false` keeps no content there, and `previous_response_id` and `item_reference` read
their conversation from it. What the request asked (instructions, metadata, tools, ...), which
the response object echoes, is kept in Redis as long as the generation's presence count
(web/generations/presence.py); after that, retrieval echoes the defaults.
"""

import asyncio
import logging
import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from redis.exceptions import RedisError
from starlette.responses import Response

from shared.errors import AppError, InvalidRequest, NotFound
from shared.models import Generation, GenerationStatus
from shared.services import generations
from shared.stream import Event, read_log
from web.auth import Principal
from web.deps import PrincipalDep, StateDep
from web.dialects import Whole, responses
from web.dialects.response_events import ResponseBuilder
from web.dialects.response_input import Conversation
from web.generations.follow import follow, last_logged, replaying
from web.generations.submit import start
from web.responses import JSON
from web.state import AppState

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/v1/responses", tags=["openai"], route_class=responses.DIALECT.route_class
)

# How long a cancel waits for the generation's end, so that the response it returns says
# `cancelled`: a running generation stops as soon as its worker hears the abort (milliseconds).
CANCEL_WAIT_SECONDS = 5.0


@router.post("")
async def create_response(
    body: responses.ResponsesRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """A model response, streamed or whole; with `background: true` it returns at once and the
    generation runs on without a client (poll, resume or cancel it by its id)."""
    body.given(await _context(state, principal, body))
    started = await start(state, request, principal, body, store_content=body.store)
    gid = started.relay.generation_id
    await _remember(state, gid, body)
    reply = body.reply(gid, started.queued_at)
    if body.background:
        # The server itself watches a background response: no client that leaves (or never
        # came) makes it the last one, so the disconnect grace never cancels it.
        await state.presence.attach(gid)
        if not body.stream:
            started.relay.close()
            events = await read_log(state.redis, state.keys, gid)
            reply.builder.feed(events)
            snapshot = reply.builder.snapshot()
            return started.annotate(JSON(snapshot, headers={"X-Generation-ID": gid}))
    response = await state.responder.respond(started.relay, request, reply, stream=body.stream)
    return started.annotate(response)


@router.get("/{response_id}", responses={410: {"description": "Its stream is past retention."}})
async def retrieve_response(
    response_id: str,
    state: StateDep,
    principal: PrincipalDep,
    stream: bool = False,
    starting_after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """The response as it stands (queued, in progress, or its outcome); with `stream=true`, its
    events from the first one (or after `starting_after`), then live."""
    row = await _find(state, principal, response_id)
    if not stream:
        return JSON(await _snapshot(state, row), headers={"X-Generation-ID": str(row.id)})
    await last_logged(state, row)
    after = -1 if starting_after is None else starting_after
    reply = responses.ResponseReply(
        ResponseBuilder(str(row.id), await _head(state, row)), after=after, replay=True
    )
    return await follow(state, principal, str(row.id), reply)


@router.post("/{response_id}/cancel")
async def cancel_response(response_id: str, state: StateDep, principal: PrincipalDep) -> Response:
    """Cancel a response (idempotent): it is returned as it ended, `cancelled` if it was still
    queued or running."""
    row = await _find(state, principal, response_id)
    gid = str(row.id)
    status = await state.cancellations.cancel(gid, api_key_id=principal.key_id)
    if status == GenerationStatus.RUNNING:
        await _until_ended(state, gid)
    return JSON(await _snapshot(state, row), headers={"X-Generation-ID": gid})


async def _find(state: AppState, principal: Principal, response_id: str) -> Generation:
    """The caller's own response; another key's is not found (404, not 403)."""
    gid = responses.generation_of(response_id)
    row = await _row(state, principal, gid) if gid is not None else None
    if row is None:
        raise NotFound(f"no response {response_id!r}")
    return row


async def _row(state: AppState, principal: Principal, gid: str) -> Generation | None:
    async with state.sessions() as session:
        return await generations.get_generation(
            session, generation_id=uuid.UUID(gid), api_key_id=principal.key_id
        )


async def _remember(state: AppState, gid: str, body: responses.ResponsesRequest) -> None:
    """Keep what the response echoes of its request, for retrieval (best effort: without it,
    a retrieved response echoes the defaults). Not the instructions of an unstored one."""
    echo = body.echo()
    if not (body.store and state.settings.STORE_CONTENT):
        echo["instructions"] = None
    try:
        await state.redis.set(
            state.keys.response(gid), orjson.dumps(echo), ex=state.presence.clients_ttl
        )
    except (RedisError, OSError) as e:
        log.warning("response %s: its request's fields are not kept: %r", gid, e)


async def _head(state: AppState, row: Generation) -> dict[str, Any]:
    echo: dict[str, Any] = {"model": row.llm_model, "store": row.prompt is not None}
    try:
        kept = await state.redis.get(state.keys.response(str(row.id)))
    except (RedisError, OSError):
        kept = None
    if kept is not None:
        echo = orjson.loads(kept)
    return responses.head(str(row.id), row.queued_at.timestamp(), echo)


async def _snapshot(state: AppState, row: Generation) -> dict[str, Any]:
    """The response object: from the record once it is final, else from the replay log (the
    worker sends the last event before it writes the record)."""
    # Without its prompt a record keeps no content (store: false): the log has it for the
    # streams only.
    builder = ResponseBuilder(str(row.id), await _head(state, row), content=row.prompt is not None)
    if GenerationStatus(row.status).is_final:
        events = _record_events(row)
    else:
        try:
            events = await read_log(state.redis, state.keys, str(row.id))
        except (RedisError, OSError):
            events = []
    builder.feed(events)
    return builder.snapshot()


async def _until_ended(state: AppState, gid: str) -> None:
    """Wait (at most CANCEL_WAIT_SECONDS) for the generation's last event."""
    relay = replaying(state, gid)
    await relay.open()
    try:
        async with asyncio.timeout(CANCEL_WAIT_SECONDS):
            async for batch in relay.batches():
                if batch and batch[-1].is_terminal:
                    return
    except (TimeoutError, AppError):
        return  # it is returned as it stands
    finally:
        relay.close()


async def _context(
    state: AppState, principal: Principal, body: responses.ResponsesRequest
) -> responses.Context:
    """The conversation of `previous_response_id` and the items the input references, from
    their records (this key's, final, with their content stored)."""
    context = responses.Context()
    if body.previous_response_id is not None:
        row = await _stored(state, principal, body.previous_response_id, "previous_response_id")
        conversation = Conversation(orjson.loads(row.prompt or "[]"))
        for item in _output(row):
            conversation.add(item)
        context.history = conversation.messages
    rows: dict[str, Generation] = {}
    for ref in body.references():
        gid = responses.generation_of(ref, ("rs", "msg", "fc")) or ""
        if gid not in rows:
            rows[gid] = await _stored(state, principal, ref, "input", ("rs", "msg", "fc"))
            context.items.update({item["id"]: item for item in _output(rows[gid])})
    return context


async def _stored(
    state: AppState,
    principal: Principal,
    some_id: str,
    param: str,
    kinds: tuple[str, ...] = ("resp",),
) -> Generation:
    """The record a previous response (or output item) id names: this key's, ended, with its
    content; 400 naming `param` otherwise."""
    gid = responses.generation_of(some_id, kinds)
    row = await _row(state, principal, gid) if gid is not None else None
    if row is None:
        raise _unusable(param, some_id, "no response of this key has it")
    if not GenerationStatus(row.status).is_final:
        raise _unusable(param, some_id, "its response has not ended yet")
    if row.prompt is None:
        raise _unusable(
            param, some_id, "its content was not stored (store: false, or STORE_CONTENT=false)"
        )
    if row.kind != "chat":
        raise _unusable(param, some_id, "it is not a response (not a chat generation)")
    return row


def _unusable(param: str, some_id: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {some_id!r}: {why}", details=[{"loc": [param]}])


def _output(row: Generation) -> list[dict[str, Any]]:
    """A finished response's output items, as its record gives them."""
    builder = ResponseBuilder(str(row.id), {})
    builder.feed(_record_events(row))
    output: list[dict[str, Any]] = builder.snapshot()["output"]
    return output


def _record_events(row: Generation) -> list[Event]:
    """A final record as the events that would have streamed it."""
    stats = {
        "done_reason": row.done_reason,
        "prompt_eval_count": row.prompt_tokens,
        "eval_count": row.completion_tokens,
    }
    whole = Whole(row.response or "", stats, row.thinking or "", row.tool_calls or [])
    failed = row.status != GenerationStatus.SUCCEEDED
    error = {"type": row.error_type, "message": row.error_message} if failed else None
    return responses.events_of(whole, started=row.started_at is not None, error=error)
