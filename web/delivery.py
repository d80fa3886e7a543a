"""Deliver a generation to its client, as a stream or whole; a client that leaves is noticed.

Both forms take the framing from the caller (the native API, and later other dialects), and
handle the same things: an error before the first byte becomes an HTTP status; an error after
it, an error event; a bound that runs out on the web side, or a dead worker, fails the
generation; a client that goes away before the end counts as gone (web/cancel.py).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from shared.errors import AppError, error_from_dict
from shared.stream import CHUNK, DONE, ERROR, Event
from web import metrics
from web.cancel import Cancellations
from web.queue import QueueStatus
from web.relay import Relay
from web.responses import JSON


@dataclass(slots=True)
class Framing:
    """How one dialect writes a stream."""

    media_type: str
    encode: Callable[[list[Event]], bytes]  # a batch of events; may be empty
    error: Callable[[int, dict[str, Any]], bytes]  # a final error event
    keepalive: bytes  # written on an idle tick
    headers: dict[str, str] = field(default_factory=dict)
    # Written on an idle tick while the generation waits in the queue (position, wait).
    queued: Callable[[dict[str, Any]], bytes] | None = None


@dataclass(slots=True)
class Whole:
    """A generation collected to its end."""

    text: str
    stats: dict[str, Any]


async def _with_first(
    first: list[Event], rest: AsyncIterator[list[Event]]
) -> AsyncIterator[list[Event]]:
    yield first
    async for batch in rest:
        yield batch


class ClientGone(Exception):
    """The client hung up before the answer was ready."""


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _collect(relay: Relay) -> Whole | AppError:
    """The text to the end, or the error the generation ended with."""
    parts: list[str] = []
    async for batch in relay.batches():
        for event in batch:
            if event.type == CHUNK:
                parts.append(event.payload)
            elif event.type == DONE:
                return Whole("".join(parts), event.payload)
            elif event.type == ERROR:
                return error_from_dict(event.payload)
    raise AssertionError("the relay ended without a terminal event")


async def _relay_whole(relay: Relay, cancellations: Cancellations) -> Whole:
    try:
        result = await _collect(relay)
    except AppError as e:  # a bound ran out on this side, or the worker died
        await cancellations.give_up(relay.generation_id, e)
        e.generation_id = relay.generation_id
        raise
    if isinstance(result, AppError):
        result.generation_id = relay.generation_id
        raise result
    return result


async def collect_whole(relay: Relay, request: Request, cancellations: Cancellations) -> Whole:
    """The whole text, or the generation's error; raises ClientGone if the client hung up."""
    collect = asyncio.ensure_future(_relay_whole(relay, cancellations))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({collect, gone}, return_when=asyncio.FIRST_COMPLETED)
        if collect.done():
            return collect.result()
        collect.cancel()
        cancellations.client_left(relay.generation_id)
        raise ClientGone()
    finally:
        gone.cancel()
        relay.close()


async def stream(
    relay: Relay, framing: Framing, cancellations: Cancellations, queue: QueueStatus
) -> Response:
    """Wait briefly for the first event, so a quick failure gets a real status, then stream."""
    batches = relay.batches()
    first: list[Event] = []
    try:
        async for batch in batches:
            first.extend(batch)
            if not batch or any(e.type in (CHUNK, DONE, ERROR) for e in batch):
                break
    except AppError as e:  # a bound ran out on this side, or the worker died
        relay.close()
        await cancellations.give_up(relay.generation_id, e)
        e.generation_id = relay.generation_id
        raise
    except BaseException:
        relay.close()
        raise
    if first and first[-1].type == ERROR and not any(e.type == CHUNK for e in first):
        relay.close()
        error = error_from_dict(first[-1].payload)
        error.generation_id = relay.generation_id
        raise error
    return StreamingResponse(
        _body(relay, batches, first, framing, cancellations, queue),
        media_type=framing.media_type,
        headers={**framing.headers, "X-Generation-ID": relay.generation_id},
    )


async def _idle(relay: Relay, framing: Framing, queue: QueueStatus) -> bytes:
    """A keep-alive; while queued, the generation's place and estimated wait instead."""
    if framing.queued is None or relay.phase != "queued":
        return framing.keepalive
    position = await queue.position(relay.generation_id)
    if position is None:
        return framing.keepalive
    wait = (await queue.snapshot()).wait_for(position)
    return framing.queued({"position": position, "estimated_wait_seconds": wait})


async def _body(
    relay: Relay,
    batches: AsyncIterator[list[Event]],
    first: list[Event],
    framing: Framing,
    cancellations: Cancellations,
    queue: QueueStatus,
) -> AsyncIterator[bytes]:
    finished = bool(first) and first[-1].is_terminal
    first_text = False
    try:
        async for batch in _with_first(first, batches):
            if batch and batch[-1].is_terminal:
                finished = True
            if not first_text and any(e.type == CHUNK for e in batch):
                first_text = True
                metrics.TIME_TO_FIRST_TOKEN.observe(relay.age)
            if batch and batch[-1].type == ERROR:
                metrics.ERRORS.labels(str(batch[-1].payload.get("type"))).inc()
            # A batch of internal events only (a worker's pick-up) writes what an idle tick does.
            data = (framing.encode(batch) if batch else b"") or await _idle(relay, framing, queue)
            if data:
                yield data
    except AppError as e:  # a bound ran out on this side, or the worker died
        finished = True
        metrics.ERRORS.labels(e.type).inc()
        await cancellations.give_up(relay.generation_id, e)
        yield framing.error(relay.next_seq, e.to_dict())
    finally:
        # Runs inside a cancelled scope when the client disconnects: nothing here may wait.
        relay.close()
        if not finished:
            cancellations.client_left(relay.generation_id)
        with contextlib.suppress(Exception):
            await batches.aclose()  # type: ignore[attr-defined]


async def respond(
    relay: Relay,
    request: Request,
    cancellations: Cancellations,
    queue: QueueStatus,
    *,
    framing: Framing | None,
    whole: Callable[[Whole], Any],
) -> Response:
    """The generation's answer: a stream in `framing`, or (None) the JSON `whole` makes of it."""
    if framing is not None:
        return await stream(relay, framing, cancellations, queue)
    try:
        result = await collect_whole(relay, request, cancellations)
    except ClientGone:
        return Response(status_code=499)  # nobody is left to read it
    return JSON(whole(result), headers={"X-Generation-ID": relay.generation_id})
