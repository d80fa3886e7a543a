"""Deliver a generation to its client, as a stream or whole; a client that leaves is noticed.

Both forms take the framing from the dialect's Reply (web/dialects/), and handle the same
things: an error before the first byte becomes an HTTP status; an error after it, an error
event; a bound that runs out on the web side, or a dead worker, fails the generation; a client
that goes away before the end counts as gone (web/generations/presence.py).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from shared.errors import AppError, error_from_dict
from shared.stream import CONTENT, DONE, ERROR, Event, produced
from web.dialects import Reply, Whole
from web.generations.cancel import Cancellations
from web.generations.presence import ClientPresence
from web.ops import metrics
from web.ops.queue_status import QueueStatus
from web.responses import JSON
from web.streaming.relay import Relay

OnClose = Callable[[], Awaitable[None]]


class ClientGone(Exception):
    """The client hung up before the answer was ready."""


async def _with_first(
    first: list[Event], rest: AsyncIterator[list[Event]]
) -> AsyncIterator[list[Event]]:
    yield first
    async for batch in rest:
        yield batch


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _collect(relay: Relay) -> Whole | AppError:
    """Everything to the end, or the error the generation ended with."""
    events: list[Event] = []
    async for batch in relay.batches():
        events.extend(batch)
        last = events[-1] if events else None
        if last is not None and last.type == DONE:
            p = produced(events)
            return Whole(p.text, last.payload, p.thinking, p.tool_calls, p.result)
        if last is not None and last.type == ERROR:
            return error_from_dict(last.payload)
    raise AssertionError("the relay ended without a terminal event")


class Responder:
    """Answers generations: `respond` streams a Reply's framing, or returns its whole JSON."""

    def __init__(
        self, presence: ClientPresence, cancellations: Cancellations, queue: QueueStatus
    ) -> None:
        self._presence = presence
        self._cancellations = cancellations
        self._queue = queue
        self._closing: set[asyncio.Future[None]] = set()

    async def respond(
        self, relay: Relay, request: Request, reply: Reply, *, stream: bool
    ) -> Response:
        """The generation's answer: a stream in the reply's framing, or the JSON of its whole."""
        if stream:
            return await self.stream(relay, reply)
        try:
            result = await self.collect_whole(relay, request)
        except ClientGone:
            return Response(status_code=499)  # nobody is left to read it
        return JSON(reply.whole(result), headers={"X-Generation-ID": relay.generation_id})

    async def _relay_whole(self, relay: Relay) -> Whole:
        try:
            result = await _collect(relay)
        except AppError as e:  # a bound ran out on this side, or the worker died
            await self._cancellations.give_up(relay.generation_id, e)
            e.generation_id = relay.generation_id
            raise
        if isinstance(result, AppError):
            result.generation_id = relay.generation_id
            raise result
        return result

    async def collect_whole(self, relay: Relay, request: Request) -> Whole:
        """The whole text, or the generation's error; raises ClientGone if the client hung up."""
        collect = asyncio.ensure_future(self._relay_whole(relay))
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait({collect, gone}, return_when=asyncio.FIRST_COMPLETED)
            if collect.done():
                return collect.result()
            collect.cancel()
            self._presence.client_left(relay.generation_id)
            raise ClientGone()
        finally:
            gone.cancel()
            relay.close()

    async def stream(
        self, relay: Relay, reply: Reply, *, on_close: OnClose | None = None
    ) -> Response:
        """Wait briefly for the first event, so a quick failure gets a real status, then stream.
        `on_close` runs (in the background) once the stream has ended, however it ended."""
        try:
            return await self._stream(relay, reply, on_close)
        except BaseException:
            self._after(on_close)
            raise

    def _after(self, on_close: OnClose | None) -> None:
        if on_close is not None:
            task = asyncio.ensure_future(on_close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _stream(self, relay: Relay, reply: Reply, on_close: OnClose | None) -> Response:
        batches = relay.batches()
        first: list[Event] = []
        try:
            async for batch in batches:
                first.extend(batch)
                if not batch or any(e.type in CONTENT or e.is_terminal for e in batch):
                    break
        except AppError as e:  # a bound ran out on this side, or the worker died
            relay.close()
            await self._cancellations.give_up(relay.generation_id, e)
            e.generation_id = relay.generation_id
            raise
        except BaseException:
            relay.close()
            raise
        failed_early = first and first[-1].type == ERROR
        if reply.early_errors and failed_early and not any(e.type in CONTENT for e in first):
            relay.close()
            error = error_from_dict(first[-1].payload)
            error.generation_id = relay.generation_id
            raise error
        return StreamingResponse(
            self._body(relay, batches, first, reply, on_close),
            media_type=reply.media_type,
            headers={**reply.headers, "X-Generation-ID": relay.generation_id},
        )

    async def _idle(self, relay: Relay, reply: Reply) -> bytes:
        """A keep-alive; while queued, the generation's place and estimated wait if the dialect
        shows them."""
        if relay.phase != "queued" or not reply.shows_queue:
            return reply.keepalive
        try:
            position = await self._queue.position(relay.generation_id)
            if position is None:
                return reply.keepalive
            wait = (await self._queue.snapshot()).wait_for(position)
        except (RedisError, OSError):  # the relay has its own bound on a Redis that is away
            return reply.keepalive
        return reply.queued({"position": position, "estimated_wait_seconds": wait})

    async def _body(
        self,
        relay: Relay,
        batches: AsyncIterator[list[Event]],
        first: list[Event],
        reply: Reply,
        on_close: OnClose | None = None,
    ) -> AsyncIterator[bytes]:
        finished = bool(first) and first[-1].is_terminal
        first_text = False
        try:
            async for batch in _with_first(first, batches):
                if batch and batch[-1].is_terminal:
                    finished = True
                if not first_text and any(e.type in CONTENT for e in batch):
                    first_text = True
                    metrics.TIME_TO_FIRST_TOKEN.observe(relay.age)
                if batch and batch[-1].type == ERROR:
                    metrics.ERRORS.labels(str(batch[-1].payload.get("type"))).inc()
                # A batch of internal events only (a worker's pick-up) writes what an idle tick
                # does.
                data = (reply.encode(batch) if batch else b"") or await self._idle(relay, reply)
                if data:
                    yield data
        except AppError as e:  # a bound ran out on this side, or the worker died
            finished = True
            metrics.ERRORS.labels(e.type).inc()
            await self._cancellations.give_up(relay.generation_id, e)
            yield reply.error_event(relay.next_seq, e.to_dict())
        finally:
            # Runs inside a cancelled scope when the client disconnects: nothing here may wait.
            relay.close()
            if not finished:
                self._presence.client_left(relay.generation_id)
            self._after(on_close)
            with contextlib.suppress(Exception):
                await batches.aclose()  # type: ignore[attr-defined]
