"""The worker's side of the stream: number events, log them, publish them, in batched pipelines.

Every running job hands its chunks to one StreamPublisher. A flush writes, for each generation
with something new, its events to the replay log (XADD with id 0-<seq>) and one live message
(PUBLISH), all in one pipeline. Text that arrives for a generation while the previous flush is in
flight is joined into one chunk: the text is unchanged, there are only fewer events to carry.

When Redis goes away, a flush is sent again until it returns (for up to PUBLISH_RETRY_SECONDS):
the generation goes on, Ollama's text waits in memory, and nothing is lost or doubled (an event
already logged is refused by its own id, which counts as done; a repeated live message is
dropped by the relay's sequence numbers).
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.batching import GroupCommit
from shared.errors import AppError
from shared.jobs import usage_periods
from shared.keys import Keys
from shared.redis import RedisLink
from shared.stream import CHUNK, START, TERMINAL, encode_event, live_publish, log_append

log = logging.getLogger(__name__)

# How long a flush is retried while Redis is away; the web side waits as long before it gives up
# on a stream (WaitBounds.redis_outage).
PUBLISH_RETRY_SECONDS = 15.0
LOST = (RedisConnectionError, RedisTimeoutError, OSError)
# The budget counters outlive their period (UTC) by a day.
USAGE_DAY_TTL = 2 * 86_400
USAGE_MONTH_TTL = 32 * 86_400


class PublishFailed(AppError):
    type = "stream_failed"


@dataclass(slots=True)
class _Item:
    stream: "GenerationStream"
    text: str | None
    kind: str | None = None
    payload: Any = None


class GenerationStream:
    """One generation's outgoing events; text is coalesced and numbered when it is flushed.

    With `linger`, events are held for up to that long and handed over together (a listener
    that reads nothing before the end gains nothing from a flush per token).
    """

    def __init__(
        self,
        publisher: "StreamPublisher",
        generation_id: str,
        last_seq: int,
        linger: float,
        owner: str | None,
        end_user: str | None = None,
    ) -> None:
        self._publisher = publisher
        self.generation_id = generation_id
        # Whose concurrency counts the generation takes a place in (the key's, its end user's),
        # freed with its last event.
        self.owner = owner
        self.end_user = end_user
        # Tokens the generation used, counted against the owner's budgets with its last event.
        self.tokens = 0
        self.seq = last_seq
        self.chunks = 0
        self.failed: Exception | None = None
        self._expiry_set = False
        self._linger = linger
        self._held: list[_Item] = []
        self._texted = False
        self._timer: asyncio.TimerHandle | None = None

    def _add(self, item: _Item, urgent: bool = False) -> None:
        if not self._linger:
            self._publisher._commit.add(item, urgent=urgent)
            return
        self._held.append(item)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._linger, self._release)

    def _release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        held, self._held = self._held, []
        for item in held:
            self._publisher._commit.add(item)

    def send_text(self, text: str, kind: str = CHUNK) -> None:
        """Queue text (a `chunk` of the answer, or of `thinking`) for the next flush; raises if
        an earlier flush of this stream failed."""
        if self.failed is not None:
            raise PublishFailed(f"could not publish to Redis: {self.failed!r}")
        # The first text goes out at once: time to first token is not traded for batching.
        self._add(_Item(self, text, kind), urgent=not self._texted)
        self._texted = True

    def post(self, kind: str, payload: Any) -> None:
        """Queue an event without waiting."""
        self._add(_Item(self, None, kind, payload))

    async def send(self, kind: str, payload: Any) -> None:
        """Queue an event and wait until it (and all before it) is logged and published. The
        last event never waits for the coalescing window: it is what a whole answer waits for."""
        await self._commit(_Item(self, None, kind, payload), urgent=kind in TERMINAL)

    async def flush(self) -> None:
        """Wait until everything queued so far is logged and published."""
        await self._commit(_Item(self, None))

    async def _commit(self, item: _Item, *, urgent: bool = False) -> None:
        # Raises if this stream's flush failed, or any earlier one did (text already handed
        # over without waiting may have failed since): its log would have a hole otherwise.
        self._release()
        await self._publisher._commit.commit(item, urgent=urgent)
        if self.failed is not None:
            raise PublishFailed(f"could not publish to Redis: {self.failed!r}")

    def _number(self, kind: str, payload: Any) -> tuple[int, bytes]:
        self.seq += 1
        if kind == CHUNK:
            self.chunks += 1
        return self.seq, encode_event(self.seq, kind, payload)


class StreamPublisher:
    def __init__(
        self,
        link: RedisLink,
        keys: Keys,
        *,
        live_ttl_s: int,
        retention_s: int,
        coalesce_s: float = 0.0,
    ) -> None:
        self._link = link
        self._keys = keys
        self._live_ttl_s = live_ttl_s
        self._retention_s = retention_s
        self._commit: GroupCommit[_Item] = GroupCommit(
            self._flush, name="stream.publish", min_interval=coalesce_s
        )

    def start(self) -> None:
        self._commit.start()

    async def aclose(self) -> None:
        await self._commit.aclose()
        await self._link.aclose()

    def open(
        self,
        generation_id: str,
        last_seq: int = 0,
        *,
        linger: float = 0.0,
        owner: str | None = None,
        end_user: str | None = None,
    ) -> GenerationStream:
        return GenerationStream(self, generation_id, last_seq, linger, owner, end_user)

    def _events(self, items: list[_Item]) -> tuple[list[tuple[int, bytes]], bool, bool]:
        """Number one generation's items, joining consecutive text of one kind (answer or
        thinking) into one event."""
        stream = items[0].stream
        events: list[tuple[int, bytes]] = []
        texts: list[str] = []
        text_kind = CHUNK
        terminal = started = False
        for item in items:
            if item.text is not None:
                if texts and item.kind != text_kind:
                    events.append(stream._number(text_kind, "".join(texts)))
                    texts = []
                text_kind = item.kind or CHUNK
                texts.append(item.text)
                continue
            if item.kind is None:  # a flush barrier
                continue
            if texts:
                events.append(stream._number(text_kind, "".join(texts)))
                texts = []
            events.append(stream._number(item.kind, item.payload))
            terminal = terminal or item.kind in TERMINAL
            started = started or item.kind == START
        if texts:
            events.append(stream._number(text_kind, "".join(texts)))
        return events, terminal, started

    def _ending(self, stream: GenerationStream) -> list[tuple[Any, ...]]:
        """A generation's places given back and its tokens counted, with its last event."""
        keys, gid = self._keys, stream.generation_id
        assert stream.owner is not None
        commands: list[tuple[Any, ...]] = [("ZREM", keys.active(stream.owner), gid)]
        if stream.end_user:
            commands.append(("ZREM", keys.user_active(stream.owner, stream.end_user), gid))
        if stream.tokens:
            day, month = usage_periods(time.time())
            for key, ttl in (
                (keys.usage_day(stream.owner, day), USAGE_DAY_TTL),
                (keys.usage_month(stream.owner, month), USAGE_MONTH_TTL),
            ):
                commands += [("INCRBY", key, stream.tokens), ("EXPIRE", key, ttl)]
        return commands

    async def _execute(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send the flush; while Redis is away, again, until it answers or the bound runs out."""
        deadline, backoff, retried = time.monotonic() + PUBLISH_RETRY_SECONDS, 0.1, False
        while True:
            try:
                replies = await self._link.execute(commands)
            except LOST as e:
                if time.monotonic() + backoff > deadline:
                    raise
                log.warning("publishing failed (%r); retrying in %.1f s", e, backoff)
                await asyncio.sleep(backoff)
                backoff, retried = min(backoff * 2, 2.0), True
                continue
            if retried:  # events the lost attempt had logged already are done, not failed
                replies = [None if _already_logged(r) else r for r in replies]
            return replies

    def _commands(self, stream: GenerationStream, items: list[_Item]) -> list[tuple[Any, ...]]:
        """One generation's part of a flush: log, publish, and what its start or end changes."""
        events, terminal, started = self._events(items)
        if not events:
            return []
        keys, gid = self._keys, stream.generation_id
        own = [log_append(keys, gid, seq, data) for seq, data in events]
        if started:
            own.append(("ZREM", keys.waiting, gid))  # it waits no longer
        if terminal and stream.owner is not None:
            own += self._ending(stream)
        if not stream._expiry_set or terminal:
            # While it runs the log outlives the longest generation; once it ends, the
            # retention time counts from the end.
            ttl = self._retention_s if terminal else self._live_ttl_s
            own.append(("EXPIRE", keys.log(gid), ttl))
            stream._expiry_set = True
        if (publish := live_publish(keys, gid, [data for _, data in events])) is not None:
            own.append(publish)
        return own

    async def _flush(self, items: list[_Item]) -> list[Exception | None]:
        """One pipeline for every stream's events; a stream's failure is only its own."""
        by_stream: dict[GenerationStream, list[_Item]] = {}
        for item in items:
            by_stream.setdefault(item.stream, []).append(item)
        commands: list[tuple[Any, ...]] = []
        owners: list[GenerationStream] = []
        for stream, stream_items in by_stream.items():
            own = self._commands(stream, stream_items)
            commands.extend(own)
            owners.extend([stream] * len(own))
        if not commands:
            return [None] * len(items)
        try:
            replies = await self._execute(commands)
        except Exception as e:
            for stream in by_stream:
                stream.failed = e
            raise
        for owner, reply in zip(owners, replies, strict=True):
            if isinstance(reply, Exception) and owner.failed is None:
                owner.failed = reply
        return [
            (
                PublishFailed(f"could not publish to Redis: {item.stream.failed!r}")
                if item.stream.failed is not None
                else None
            )
            for item in items
        ]


def _already_logged(reply: Any) -> bool:
    return isinstance(reply, ResponseError) and "equal or smaller" in str(reply)
