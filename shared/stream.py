"""The stream contract between the worker and the web process.

A generation's events are numbered from 1 (`seq`) and kept in two places:

- the live channel `gen:<id>:live` (Redis pub/sub), where the worker publishes each flush as one
  message: a JSON array of events. Pub/sub keeps nothing, so it only serves listeners present now;
- the replay log `gen:<id>:log` (a Redis Stream whose entry ids are `0-<seq>`), which keeps every
  event until STREAM_RETENTION_SECONDS after the generation ends. Late subscribers, clients that
  resume with Last-Event-ID, and listeners that saw a gap read it.

An event is `[seq, type, payload]`:

    [1, "start", {"worker": "...", "attempt": 1}]      a worker picked the job up
    [2, "chunk", "text"]                                 text, exactly as Ollama sent it
    [9, "done",  {"done_reason": "stop", ...}]           the last event of a success
    [9, "error", {"type": "...", "message": "..."}]      the last event of a failure or cancel
"""

from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

START = "start"
CHUNK = "chunk"
DONE = "done"
ERROR = "error"
TERMINAL = frozenset({DONE, ERROR})


def live_channel(generation_id: str) -> str:
    return f"gen:{generation_id}:live"


def log_key(generation_id: str) -> str:
    return f"gen:{generation_id}:log"


def generation_id_of(channel: bytes | str) -> str:
    name = channel.decode() if isinstance(channel, bytes) else channel
    return name.split(":", 2)[1]


@dataclass(slots=True, frozen=True)
class Event:
    seq: int
    type: str
    payload: Any

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL

    def encode(self) -> bytes:
        return orjson.dumps([self.seq, self.type, self.payload])


def encode_events(events: list[Event]) -> bytes:
    return orjson.dumps([[e.seq, e.type, e.payload] for e in events])


def decode_events(data: bytes) -> list[Event]:
    return [Event(seq, kind, payload) for seq, kind, payload in orjson.loads(data)]


def decode_event(data: bytes) -> Event:
    seq, kind, payload = orjson.loads(data)
    return Event(seq, kind, payload)


async def read_log(redis: Redis, generation_id: str, after_seq: int = 0) -> list[Event]:
    """Every logged event with a sequence number above `after_seq`, in order."""
    entries = await redis.xrange(log_key(generation_id), min=f"(0-{after_seq}", max="+")
    return [decode_event(fields[b"e"]) for _, fields in entries]


async def last_event(redis: Redis, generation_id: str) -> Event | None:
    """The last logged event, if any."""
    entries = await redis.xrevrange(log_key(generation_id), max="+", min="-", count=1)
    return decode_event(entries[0][1][b"e"]) if entries else None


async def append_terminal(
    redis: Redis, generation_id: str, kind: str, payload: Any, *, retention_s: int
) -> Event | None:
    """End a generation's stream from outside the worker (a cancelled queued job, a dead worker).

    Returns the event, or None if the stream has ended already or a worker wrote the same
    sequence number first (then that worker's own terminal event follows).
    """
    last = await last_event(redis, generation_id)
    if last is not None and last.is_terminal:
        return None
    event = Event(last.seq + 1 if last else 1, kind, payload)
    key = log_key(generation_id)
    try:
        await redis.xadd(key, {"e": event.encode()}, id=f"0-{event.seq}")
    except ResponseError:
        return None
    async with redis.pipeline(transaction=False) as pipe:
        pipe.expire(key, retention_s)
        pipe.publish(live_channel(generation_id), encode_events([event]))
        await pipe.execute()
    return event
