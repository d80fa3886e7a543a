"""One pub/sub connection per web process, fanned out to every open request.

A connection per open stream costs a TCP connect, ~37 KB of Redis memory and falls behind at
10k messages/s (measured in the project's first research on arq and Redis pub/sub); a shared
one keeps up. The reader
never waits for a request: each Subscription buffers a bounded number of events, and one that
overflows is told to read the replay log instead, so a slow client loses nothing and slows no one.

The connection can die quietly (Redis restarted behind a proxy, a half-open TCP connection) and
a pub/sub reader would wait forever. So the hub checks its own line: after ECHO_SECONDS without
a message it publishes one to itself (an echo channel of its own), and if nothing at all arrives
within ECHO_TIMEOUT_SECONDS it drops the connection and reconnects; every subscription then
reads its replay log, so nothing is lost. A hub started while Redis is away connects when it
comes back.
"""

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from shared.batching import GroupCommit
from shared.keys import Keys
from shared.notices import Notice
from shared.stream import Event, decode_live
from web.ops import metrics

log = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT_SECONDS = 5.0
ECHO_SECONDS = 1.0
ECHO_TIMEOUT_SECONDS = 3.0


def _done() -> "asyncio.Future[None]":
    future = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


class Subscription:
    """One request's live events of one generation."""

    __slots__ = ("_events", "_limit", "_wake", "channel", "confirmed", "generation_id", "resync")

    def __init__(self, generation_id: str, channel: bytes, limit: int) -> None:
        self.generation_id = generation_id
        self.channel = channel
        self._events: deque[Event] = deque()
        self._limit = limit
        self._wake = asyncio.Event()
        # True when live events may have been missed: the reader must consult the replay log.
        self.resync = False
        # Resolves when Redis confirmed the subscription (set by StreamHub.subscribe).
        self.confirmed: asyncio.Future[None] | None = None

    def deliver(self, events: list[Event]) -> None:
        if len(self._events) + len(events) > self._limit:
            self._events.clear()
            self.resync = True
        else:
            self._events.extend(events)
        self._wake.set()

    def mark_resync(self) -> None:
        self.resync = True
        self._wake.set()

    async def next(self, wait: float) -> list[Event] | None:
        """The events received since the last call; None if nothing came within `wait` s."""
        if not self._events and not self.resync:
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                return None
        self._wake.clear()
        events = list(self._events)
        self._events.clear()
        return events


class StreamHub:
    """`listener`: the client the subscription runs on (no read timeout, shared/redis.py);
    `redis`: a bounded client for the echo."""

    def __init__(
        self, listener: Redis, redis: Redis, keys: Keys, *, buffer_limit: int = 1000
    ) -> None:
        self._pubsub = listener.pubsub()
        self._redis = redis
        self._keys = keys
        self._echo_channel = keys.hub_echo(uuid.uuid4().hex[:12]).encode()
        self._echo_sent: float | None = None
        self._connecting = asyncio.Lock()
        self.connected = False
        # Notices for every web process (shared/notices.py), such as a revoked API key.
        self._control_channel = keys.control_channel.encode()
        self._buffer_limit = buffer_limit
        self._subscriptions: dict[bytes, set[Subscription]] = {}
        # Futures for SUBSCRIBE commands not yet confirmed, per channel, in the order sent.
        self._confirmations: dict[bytes, deque[asyncio.Future[None]]] = {}
        self._reader: asyncio.Task[None] | None = None
        # SUBSCRIBE and UNSUBSCRIBE go out in batches: one write for all the requests that
        # arrived meanwhile, instead of one each.
        self._changes: GroupCommit[tuple[bool, bytes]] = GroupCommit(
            self._send_changes, name="stream-hub.subscriptions"
        )
        self._control: dict[str, Callable[[str], None]] = {}

    @property
    def open_subscriptions(self) -> int:
        return sum(len(subs) for subs in self._subscriptions.values())

    def on_control(self, kind: str, handler: Callable[[str], None]) -> None:
        """Call `handler(argument)` for each control notice of this kind."""
        self._control[kind] = handler

    async def start(self) -> None:
        """Connect (or, with Redis away, keep trying in the background) and start reading."""
        self._changes.start()
        try:
            await self._ensure_connected()
        except (RedisError, OSError) as e:
            log.warning("stream hub: Redis does not answer yet (%r); retrying", e)
        self._reader = asyncio.create_task(self._read(), name="stream-hub")

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._changes.aclose()
        await self._pubsub.aclose()

    async def subscribe(self, generation_id: str, *, wait: bool = True) -> Subscription:
        """Listen to a generation. With `wait`, return once Redis has confirmed it; without,
        once the SUBSCRIBE is written (`sub.confirmed` resolves on the confirmation)."""
        channel = self._keys.live(generation_id).encode()
        sub = Subscription(generation_id, channel, self._buffer_limit)
        metrics.OPEN_STREAMS.inc()
        subs = self._subscriptions.get(sub.channel)
        if subs is not None:
            subs.add(sub)
            pending = self._confirmations.get(sub.channel)
            sub.confirmed = pending[-1] if pending else _done()
        else:
            self._subscriptions[sub.channel] = {sub}
            sub.confirmed = asyncio.get_running_loop().create_future()
            self._confirmations.setdefault(sub.channel, deque()).append(sub.confirmed)
            try:
                await self._changes.commit((True, sub.channel))
            except BaseException:
                self.unsubscribe(sub)
                raise
        if wait:
            try:
                await asyncio.wait_for(asyncio.shield(sub.confirmed), SUBSCRIBE_TIMEOUT_SECONDS)
            except BaseException:
                self.unsubscribe(sub)
                raise
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop listening. Never waits, so it is safe in the cleanup of a cancelled request."""
        subs = self._subscriptions.get(sub.channel)
        if subs is None or sub not in subs:
            return
        subs.discard(sub)
        metrics.OPEN_STREAMS.dec()
        if not subs:
            del self._subscriptions[sub.channel]
            self._changes.add((False, sub.channel))

    async def _send_changes(self, changes: list[tuple[bool, bytes]]) -> None:
        if not self.connected:
            if not any(add for add, _ in changes):
                return  # the reconnect resubscribes only what is open then
            # A new stream does not wait for the reader's next attempt: Redis may be back.
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                await self._ensure_connected()
        subscribe = list(dict.fromkeys(c for add, c in changes if add))
        # A channel subscribed again meanwhile stays subscribed.
        release = list(
            dict.fromkeys(c for add, c in changes if not add and c not in self._subscriptions)
        )
        if release:
            # If Redis is away, the reconnect resubscribes only what is still open.
            with contextlib.suppress(RedisConnectionError, OSError):
                await self._pubsub.unsubscribe(*release)
        if subscribe:
            try:
                await self._pubsub.subscribe(*subscribe)
            except (RedisConnectionError, OSError, RuntimeError):
                # The connection died unnoticed (Redis restarted, a hung one closed; uvloop says
                # so with a RuntimeError for the closed transport): connect again now and send
                # once more, rather than fail a stream Redis could serve.
                self.connected = False
                async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                    await self._ensure_connected()
                await self._pubsub.subscribe(*subscribe)

    async def _ensure_connected(self) -> None:
        async with self._connecting:
            if not self.connected:
                await self._connect()

    async def _read(self) -> None:
        backoff = 0.1
        while True:
            try:
                if not self.connected:
                    await self._ensure_connected()
                    backoff = 0.1
                await self._receive()
            except (RedisError, OSError) as e:
                if self.connected:
                    log.warning("stream hub lost Redis (%r); reconnecting", e)
                self.connected = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _receive(self) -> None:
        """One message, or an echo sent or missed after a quiet while."""
        loop = asyncio.get_running_loop()
        message = await self._pubsub.get_message(timeout=ECHO_SECONDS)
        if message is not None:
            self._echo_sent = None
            self._dispatch(message)
        elif self._echo_sent is None:
            self._echo_sent = loop.time()
            await self._redis.publish(self._echo_channel, b"echo")
        elif loop.time() - self._echo_sent > ECHO_TIMEOUT_SECONDS:
            self._echo_sent = None
            raise RedisConnectionError("the subscription heard nothing, not even its own echo")

    async def _connect(self) -> None:
        """(Re)connect: a standing subscription to the control and echo channels (which also
        keeps the connection in pub/sub mode while no stream is open), and every channel still
        open, resubscribed by redis-py; then everyone reads what they missed."""
        if self._pubsub.connection is not None:
            await self._pubsub.connection.disconnect()
        await self._pubsub.subscribe(self._control_channel, self._echo_channel)
        stale = [
            c
            for c in self._pubsub.channels
            if c not in self._subscriptions and c not in (self._control_channel, self._echo_channel)
        ]
        if stale:  # released while Redis was away
            await self._pubsub.unsubscribe(*stale)
        self.connected = True
        for pending in self._confirmations.values():
            while pending:
                future = pending.popleft()
                if not future.done():
                    future.set_result(None)
        # Whatever was published while we were away is in the replay logs.
        for subs in self._subscriptions.values():
            for sub in subs:
                sub.mark_resync()

    def _dispatch(self, message: dict) -> None:
        kind = message["type"]
        channel = message["channel"]
        if kind == "message" and channel == self._control_channel:
            notice = Notice.decode(message["data"])
            handler = self._control.get(notice.kind)
            if handler is not None:
                handler(notice.argument)
        elif kind == "message":
            subs = self._subscriptions.get(channel)
            if subs:
                events = decode_live(message["data"])
                for sub in subs:
                    sub.deliver(events)
        elif kind == "subscribe":
            pending = self._confirmations.get(channel)
            if pending:
                future = pending.popleft()
                if not future.done():
                    future.set_result(None)
                if not pending:
                    del self._confirmations[channel]
