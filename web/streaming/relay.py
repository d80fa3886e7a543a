"""A generation's events for one request: exactly once, in order, with every wait bounded.

Live events come from the hub; the replay log fills whatever the live path missed (a gap in the
sequence numbers, a hub reconnect, a subscription that overflowed, a client that resumes). The
relay also keeps its own clock on each phase, so a worker that dies or never comes cannot leave
a client waiting: the worker enforces the same bounds on Ollama and normally reports first.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import DependencyUnavailable, QueueTimeout, UpstreamTimeout, WorkerLost
from shared.keys import Keys
from shared.stream import CONTENT, START, Event, read_log
from web.streaming.hub import SUBSCRIBE_TIMEOUT_SECONDS, StreamHub, Subscription


@dataclass(frozen=True, slots=True)
class WaitBounds:
    queue: float  # until a worker picks the job up
    first_chunk: float  # from pick-up to the first text
    next_chunk: float  # between events
    total: float  # from pick-up to the end
    # How long Redis may stay away before the stream ends with an error event (till then the
    # relay waits, and the replay log fills in what it missed).
    redis_outage: float = 15.0
    # How often an idle stream checks that its worker still beats (WORKER_HEARTBEAT_SECONDS).
    worker_check: float = 1.0


class Relay:
    def __init__(
        self,
        hub: StreamHub,
        redis: Redis,
        keys: Keys,
        generation_id: str,
        *,
        bounds: WaitBounds,
        keepalive: float,
        after_seq: int = 0,
        replay: bool = False,
        first_tick: float | None = None,
    ) -> None:
        self._hub = hub
        self._redis = redis
        self._keys = keys
        self.generation_id = generation_id
        self._bounds = bounds
        self._keepalive = keepalive
        self._replay = replay
        self.next_seq = after_seq + 1
        self._sub: Subscription | None = None
        self._gap = False
        self.worker_id: str | None = None
        self._heartbeat_missed = False
        now = time.monotonic()
        # Until `first_tick` has passed, idle ticks come at least that soon: a stream response
        # waits for the first text or an idle tick before sending its headers (so that quick
        # failures get a real status), and must not wait a whole keep-alive interval for it.
        self._early_ticks_until = now + first_tick if first_tick is not None else None
        self._created = now
        self._phase = "queued"
        self._redis_lost_at: float | None = None
        self._next_idle = now + keepalive
        self._deadline = now + bounds.queue
        self._end = now + bounds.queue + bounds.total

    async def open(self, *, wait: bool = True) -> None:
        """Subscribe; once confirmed, events published from then on reach this relay."""
        self._sub = await self._hub.subscribe(self.generation_id, wait=wait)

    async def confirmed(self, *, replay: bool) -> None:
        """Wait for the subscription; `replay`: read the log first, for what came before it."""
        assert self._sub is not None and self._sub.confirmed is not None, "open() first"
        await asyncio.wait_for(asyncio.shield(self._sub.confirmed), SUBSCRIBE_TIMEOUT_SECONDS)
        self._replay = self._replay or replay

    @property
    def phase(self) -> str:
        """queued, loading (picked up, no text yet) or streaming."""
        return self._phase

    @property
    def age(self) -> float:
        return time.monotonic() - self._created

    def close(self) -> None:
        if self._sub is not None:
            self._hub.unsubscribe(self._sub)
            self._sub = None

    async def batches(self) -> AsyncIterator[list[Event]]:
        """Batches of new events, ending with the terminal one; an empty batch is an idle tick."""
        assert self._sub is not None, "open() first"
        if self._replay:
            ready = await self._replayed()
            if ready:
                yield ready
                if ready[-1].is_terminal:
                    return
        while True:
            events = await self._sub.next(self._tick())
            if events is None:
                events = await self._quiet()
                if not events:
                    if self._idle_due():
                        yield []
                    continue
            elif self._sub.resync:
                self._sub.resync = False
                events = await self._log()
            ready = self._in_order(events)
            if self._gap:
                ready += self._in_order(await self._log())
            if ready:
                yield ready
                if ready[-1].is_terminal:
                    return

    async def _quiet(self) -> list[Event]:
        """Nothing came live for a tick: the bounds, the log, the worker's heartbeat."""
        self._check_deadline()
        events = await self._log()  # anything the live path lost
        if not events:
            await self._check_worker()
        return events

    def _idle_due(self) -> bool:
        """Whether a quiet tick is an idle batch for the client: liveness checks may come more
        often than its keep-alives."""
        now = time.monotonic()
        if self._early_ticks_until is None and now < self._next_idle:
            return False
        self._early_ticks_until = None  # one idle tick was what the headers waited for
        self._next_idle = now + self._keepalive
        return True

    async def _replayed(self) -> list[Event]:
        """The logged events after the resume point; those before it still set the phase."""
        logged = await read_log(self._redis, self._keys, self.generation_id)
        for event in logged:
            if event.seq < self.next_seq:
                self._advance(event)
        return self._in_order(logged)

    async def _log(self) -> list[Event]:
        """What the log has after the last event delivered; nothing while Redis is away, until
        its bound runs out."""
        try:
            events = await read_log(self._redis, self._keys, self.generation_id, self.next_seq - 1)
        except (RedisError, OSError) as e:
            self._redis_away(e)
            return []
        self._redis_lost_at = None
        return events

    def _redis_away(self, error: Exception) -> None:
        now = time.monotonic()
        if self._redis_lost_at is None:
            self._redis_lost_at = now
        elif now - self._redis_lost_at > self._bounds.redis_outage:
            raise DependencyUnavailable(
                "Redis has been unavailable for too long to go on", retry_after=5
            ) from error

    def _in_order(self, events: list[Event]) -> list[Event]:
        """Keep the events that come next, drop duplicates, note a gap."""
        self._gap = False
        ready: list[Event] = []
        for event in events:
            if event.seq < self.next_seq:
                continue
            if event.seq > self.next_seq:
                self._gap = True
                break
            ready.append(event)
            self.next_seq += 1
            self._advance(event)
        return ready

    def _advance(self, event: Event) -> None:
        now = time.monotonic()
        if event.type == START:
            self.worker_id = event.payload.get("worker")
            self._phase = "loading"
            self._deadline = now + self._bounds.first_chunk
            self._end = now + self._bounds.total
        elif event.type in CONTENT:
            self._phase = "streaming"
            self._deadline = now + self._bounds.next_chunk
        elif self._phase != "queued":
            self._deadline = now + self._bounds.next_chunk

    async def _check_worker(self) -> None:
        """A worker that stopped beating (killed, frozen, partitioned) will never finish this.

        Its heartbeat must be missing at two idle ticks in a row: one miss can be a heartbeat
        that is late by a moment.
        """
        if self.worker_id is None or self._phase == "queued":
            return
        try:
            alive = bool(await self._redis.exists(self._keys.worker(self.worker_id)))
        except (RedisError, OSError) as e:
            self._redis_away(e)
            return
        if not alive and self._heartbeat_missed:
            raise WorkerLost("the worker running this generation stopped responding")
        self._heartbeat_missed = not alive

    def _tick(self) -> float:
        interval = self._keepalive
        if self.worker_id is not None and self._phase != "queued":
            interval = min(interval, self._bounds.worker_check)
        if self._early_ticks_until is not None:
            interval = min(interval, max(0.0, self._early_ticks_until - time.monotonic()))
        return max(0.0, min(interval, min(self._deadline, self._end) - time.monotonic()))

    def _check_deadline(self) -> None:
        now = time.monotonic()
        if now < self._deadline and now < self._end:
            return
        if self._phase == "queued":
            raise QueueTimeout("no worker started the generation in time; try again later")
        if now >= self._end:
            raise UpstreamTimeout("the generation took longer than allowed")
        if self._phase == "loading":
            raise UpstreamTimeout("the model sent no first token in time")
        raise UpstreamTimeout("the model stopped sending tokens")
