"""The stream contract between the worker and the web process: the only encoder and decoder of a
generation's events, on the live channel and in the replay log.

A generation's events are numbered from 1 (`seq`) and kept in two places:

- the live channel (Keys.live, Redis pub/sub), where the worker publishes each flush as one
  message: a JSON array of events. Pub/sub keeps nothing, so it only serves listeners present now;
- the replay log (Keys.log, a Redis Stream whose entry ids are `0-<seq>`, one field `e` holding
  the event), which keeps every event until STREAM_RETENTION_SECONDS after the generation ends.
  Late subscribers, clients that resume with Last-Event-ID, and listeners that saw a gap read it.

An event is `[seq, type, payload]`:

    [1, "start", {"worker": "...", "attempt": 1}]      a worker picked the job up
    [2, "chunk", "text"]                                 text, exactly as Ollama sent it
    [3, "thinking", "text"]                              the model's reasoning (Ollama's
                                                         `thinking`), exactly as it sent it
    [4, "tool_calls", [{"id": ..., "function": {"name": ..., "arguments": {...}}}]]
                                                         tool calls, in Ollama's shape
    [5, "result", {"embeddings": [[...], ...]}]          an embedding job's vectors
    [9, "done",  {"done_reason": "stop", ...}]           the last event of a success
    [9, "error", {"type": "...", "message": "..."}]      the last event of a failure or cancel
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.keys import Keys

START = "start"
CHUNK = "chunk"
THINKING = "thinking"
TOOL_CALLS = "tool_calls"
RESULT = "result"
DONE = "done"
ERROR = "error"
TERMINAL = frozenset({DONE, ERROR})
# What a generation produces (anything a client is shown before the end).
CONTENT = frozenset({CHUNK, THINKING, TOOL_CALLS, RESULT})

# The replay log's one field per entry.
LOG_FIELD = b"e"
# Sequence numbers are Redis Stream ids `0-<seq>`, whose parts are unsigned 64-bit integers; a
# client's Last-Event-ID beyond this is not one we sent.
MAX_SEQ = 2**63 - 1
SEQ_PATTERN = re.compile(r"^[0-9]{1,19}\Z")  # ASCII digits only: str.isdigit takes "١٢" too

Command = tuple[Any, ...]


@dataclass(slots=True, frozen=True)
class Event:
    seq: int
    type: str
    payload: Any

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL

    def encode(self) -> bytes:
        return encode_event(self.seq, self.type, self.payload)


@dataclass(slots=True)
class Produced:
    """What a generation's events carried: the answer, the reasoning, the tool calls (Ollama's
    shape), an embedding job's result, and how many text and thinking events there were."""

    text: str = ""
    thinking: str = ""
    tool_calls: list[Any] = field(default_factory=list)
    result: Any = None
    chunks: int = 0
    thinking_chunks: int = 0


def produced(events: Iterable[Event]) -> Produced:
    """Everything `events` carried, joined (the one fold of a generation's content)."""
    texts: list[str] = []
    thinking: list[str] = []
    out = Produced()
    for event in events:
        if event.type == CHUNK:
            texts.append(event.payload)
        elif event.type == THINKING:
            thinking.append(event.payload)
        elif event.type == TOOL_CALLS:
            out.tool_calls.extend(event.payload)
        elif event.type == RESULT:
            out.result = event.payload
    out.text, out.thinking = "".join(texts), "".join(thinking)
    out.chunks, out.thinking_chunks = len(texts), len(thinking)
    return out


def encode_event(seq: int, kind: str, payload: Any) -> bytes:
    return orjson.dumps([seq, kind, payload])


def decode_event(data: bytes) -> Event:
    seq, kind, payload = orjson.loads(data)
    return Event(seq, kind, payload)


def live_message(encoded: Sequence[bytes]) -> bytes:
    """One live message: the already encoded events of one flush, as a JSON array."""
    return b"[" + b",".join(encoded) + b"]"


def decode_live(data: bytes) -> list[Event]:
    return [Event(seq, kind, payload) for seq, kind, payload in orjson.loads(data)]


def parse_seq(text: str) -> int:
    """A client's Last-Event-ID as a sequence number; ValueError if it cannot be one of ours."""
    if not SEQ_PATTERN.match(text) or int(text) > MAX_SEQ:
        raise ValueError(f"not an event id: {text[:40]!r}")
    return int(text)


def log_append(keys: Keys, generation_id: str, seq: int, encoded: bytes) -> Command:
    """The command that appends one encoded event to the replay log."""
    return ("XADD", keys.log(generation_id), f"0-{seq}", LOG_FIELD, encoded)


# An event larger than this (an embedding batch's vectors, a huge tool call) goes to the replay
# log only, not on the live channel: Redis drops a subscriber whose output buffer passes
# `client-output-buffer-limit pubsub` (32 MB by default), and a web process's one subscription
# carries all of its streams. The relay reads the gap it leaves from the log.
LIVE_MAX_EVENT_BYTES = 64 * 1024


def live_publish(keys: Keys, generation_id: str, encoded: Sequence[bytes]) -> Command | None:
    """The command that publishes one flush of encoded events on the live channel (without the
    events over LIVE_MAX_EVENT_BYTES); None if none is left."""
    live = [data for data in encoded if len(data) <= LIVE_MAX_EVENT_BYTES]
    return ("PUBLISH", keys.live(generation_id), live_message(live)) if live else None


def _logged(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[Event]:
    return [decode_event(fields[LOG_FIELD]) for _, fields in entries]


async def read_log(redis: Redis, keys: Keys, generation_id: str, after_seq: int = 0) -> list[Event]:
    """Every logged event with a sequence number above `after_seq`, in order."""
    return _logged(await redis.xrange(keys.log(generation_id), min=f"(0-{after_seq}", max="+"))


async def last_event(redis: Redis, keys: Keys, generation_id: str) -> Event | None:
    """The last logged event, if any."""
    logged = _logged(await redis.xrevrange(keys.log(generation_id), max="+", min="-", count=1))
    return logged[0] if logged else None


async def append_terminal(
    redis: Redis, keys: Keys, generation_id: str, kind: str, payload: Any, *, retention_s: int
) -> Event | None:
    """End a generation's stream from outside the worker (a cancelled queued job, a dead worker).

    Returns the event, or None if the stream has ended already or a worker wrote the same
    sequence number first (then that worker's own terminal event follows).
    """
    last = await last_event(redis, keys, generation_id)
    if last is not None and last.is_terminal:
        return None
    event = Event(last.seq + 1 if last else 1, kind, payload)
    encoded = event.encode()
    try:
        await redis.execute_command(*log_append(keys, generation_id, event.seq, encoded))
    except ResponseError:
        return None
    async with redis.pipeline(transaction=False) as pipe:
        pipe.expire(keys.log(generation_id), retention_s)
        if (publish := live_publish(keys, generation_id, [encoded])) is not None:
            pipe.execute_command(*publish)
        await pipe.execute()
    return event
