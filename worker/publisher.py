"""The worker's side of the stream: number events, log them, publish them, in batched pipelines.

Every running job hands its chunks to one StreamPublisher. A flush writes, for each generation
with something new, its events to the replay log (XADD with id 0-<seq>) and one live message
(PUBLISH), all in one pipeline. Text that arrives for a generation while the previous flush is in
flight is joined into one chunk: the text is unchanged, there are only fewer events to carry.
"""

from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from shared.batching import GroupCommit
from shared.errors import AppError
from shared.stream import CHUNK, TERMINAL, live_channel, log_key


class PublishFailed(AppError):
    type = "stream_failed"


@dataclass(slots=True)
class _Item:
    stream: "GenerationStream"
    text: str | None
    kind: str | None = None
    payload: Any = None


class GenerationStream:
    """One generation's outgoing events; text is coalesced and numbered when it is flushed."""

    def __init__(self, publisher: "StreamPublisher", generation_id: str, last_seq: int) -> None:
        self._publisher = publisher
        self.generation_id = generation_id
        self.seq = last_seq
        self.chunks = 0
        self.failed: Exception | None = None
        self._expiry_set = False

    def send_text(self, text: str) -> None:
        """Queue text for the next flush; raises if an earlier flush of this stream failed."""
        if self.failed is not None:
            raise PublishFailed(f"could not publish to Redis: {self.failed!r}")
        self._publisher._commit.add(_Item(self, text))

    async def send(self, kind: str, payload: Any) -> None:
        """Queue an event and wait until it is logged and published."""
        await self._publisher._commit.commit(_Item(self, None, kind, payload))

    async def flush(self) -> None:
        """Wait until everything queued so far is logged and published."""
        await self._publisher._commit.commit(_Item(self, None))

    def post(self, kind: str, payload: Any) -> None:
        """Queue an event without waiting."""
        self._publisher._commit.add(_Item(self, None, kind, payload))

    def _number(self, kind: str, payload: Any) -> tuple[int, bytes]:
        self.seq += 1
        if kind == CHUNK:
            self.chunks += 1
        return self.seq, orjson.dumps([self.seq, kind, payload])


class StreamPublisher:
    def __init__(self, redis: Redis, *, live_ttl_s: int, retention_s: int) -> None:
        self._redis = redis
        self._live_ttl_s = live_ttl_s
        self._retention_s = retention_s
        self._commit: GroupCommit[_Item] = GroupCommit(self._flush, name="stream.publish")

    def start(self) -> None:
        self._commit.start()

    async def aclose(self) -> None:
        await self._commit.aclose()

    def open(self, generation_id: str, last_seq: int = 0) -> GenerationStream:
        return GenerationStream(self, generation_id, last_seq)

    def _events(self, items: list[_Item]) -> tuple[list[tuple[int, bytes]], bool]:
        """Number one generation's items, joining consecutive text into one chunk."""
        stream = items[0].stream
        events: list[tuple[int, bytes]] = []
        texts: list[str] = []
        terminal = False
        for item in items:
            if item.text is not None:
                texts.append(item.text)
                continue
            if item.kind is None:  # a flush barrier
                continue
            if texts:
                events.append(stream._number(CHUNK, "".join(texts)))
                texts = []
            events.append(stream._number(item.kind or "", item.payload))
            terminal = terminal or item.kind in TERMINAL
        if texts:
            events.append(stream._number(CHUNK, "".join(texts)))
        return events, terminal

    async def _flush(self, items: list[_Item]) -> None:
        by_stream: dict[GenerationStream, list[_Item]] = {}
        for item in items:
            by_stream.setdefault(item.stream, []).append(item)
        pipe = self._redis.pipeline(transaction=False)
        owners: list[GenerationStream] = []
        for stream, stream_items in by_stream.items():
            events, terminal = self._events(stream_items)
            if not events:
                continue
            key = log_key(stream.generation_id)
            for seq, data in events:
                pipe.xadd(key, {"e": data}, id=f"0-{seq}")
            commands = len(events) + 1
            if not stream._expiry_set or terminal:
                # While it runs the log outlives the longest generation; once it ends, the
                # retention time counts from the end.
                pipe.expire(key, self._retention_s if terminal else self._live_ttl_s)
                stream._expiry_set = True
                commands += 1
            pipe.publish(
                live_channel(stream.generation_id), b"[" + b",".join(d for _, d in events) + b"]"
            )
            owners.extend([stream] * commands)
        if not owners:
            return
        try:
            results = await pipe.execute(raise_on_error=False)
        except Exception as e:
            for stream in by_stream:
                stream.failed = e
            raise
        failures = [
            (owner, r) for owner, r in zip(owners, results, strict=True) if isinstance(r, Exception)
        ]
        for owner, error in failures:
            owner.failed = error
        if failures:
            raise PublishFailed(f"{len(failures)} stream commands failed: {failures[0][1]!r}")
