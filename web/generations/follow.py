"""Following a generation that is under way, or over but still in its replay log: its events after
a given one, from the log and then live, in any dialect's framing (the native resume route, the
Responses API's `GET /v1/responses/{id}?stream=true`)."""

import uuid

from starlette.responses import Response

from shared.errors import Gone, RateLimited
from shared.jobs import Limits, owner_of, release_stream_place, take_stream_place
from shared.models import Generation, GenerationStatus
from shared.stream import Event, last_event
from web.auth import Principal
from web.dialects import Reply
from web.state import AppState
from web.streaming.relay import Relay


async def last_logged(state: AppState, row: Generation) -> Event | None:
    """The last event of the generation's replay log; Gone if it ended and its log is past
    STREAM_RETENTION_SECONDS."""
    gid = str(row.id)
    last = await last_event(state.redis, state.keys, gid)
    if GenerationStatus(row.status).is_final and last is None:
        retention = state.settings.STREAM_RETENTION_SECONDS
        raise Gone(f"the stream of generation {gid} ended more than {retention} s ago")
    return last


def replaying(state: AppState, generation_id: str, *, after_seq: int = 0) -> Relay:
    """A relay of the generation's events after `after_seq`: its replay log first, then live
    (open it before reading)."""
    return Relay(
        state.hub,
        state.redis,
        state.keys,
        generation_id,
        bounds=state.wait_bounds,
        keepalive=state.settings.STREAM_KEEPALIVE_SECONDS,
        after_seq=after_seq,
        replay=True,
        first_tick=0.0,
    )


async def follow(
    state: AppState, principal: Principal, generation_id: str, reply: Reply, *, after_seq: int = 0
) -> Response:
    """The generation's events after `after_seq` (logged, then live), framed by `reply`. Each
    open one takes one of the key's stream places (as many as its concurrency limit), and
    counts as a client watching the generation (web/generations/presence.py)."""
    relay = replaying(state, generation_id, after_seq=after_seq)
    limits = Limits(
        owner=owner_of(str(principal.key_id) if principal.key_id else None),
        concurrency_limit=principal.concurrency_limit,
    )
    place = uuid.uuid4().hex
    longest = state.settings.QUEUE_TIMEOUT_SECONDS + state.settings.GENERATION_TIMEOUT_SECONDS
    if not await take_stream_place(state.redis, state.keys, limits, place, longest_s=longest):
        raise RateLimited(
            f"this key may follow {principal.concurrency_limit} streams at once",
            retry_after=1,
        )

    async def release() -> None:
        await release_stream_place(state.redis, state.keys, limits.owner, place)

    try:
        await relay.open()
        await state.presence.attach(generation_id)
    except BaseException:
        relay.close()
        await release()
        raise
    return await state.responder.stream(relay, reply, on_close=release)
