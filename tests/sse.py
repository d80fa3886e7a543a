"""A strict Server-Sent Events reader for the tests (the WHATWG parsing rules)."""

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None

    def json(self) -> Any:
        return orjson.loads(self.data)


@dataclass
class SSEStream:
    events: list[SSEEvent] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """What a naive client makes of it: `response` fields joined until `{}`."""
        parts = []
        for event in self.events:
            payload = event.json()
            if payload == {}:
                break
            if isinstance(payload, dict) and "response" in payload:
                parts.append(payload["response"])
        return "".join(parts)


def parse(raw: str) -> SSEStream:
    stream = SSEStream()
    data: list[str] = []
    event, last_id = "message", None
    for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line == "":
            if data:
                stream.events.append(SSEEvent("\n".join(data), event, last_id))
            data, event = [], "message"
            continue
        if line.startswith(":"):
            stream.comments.append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            last_id = value
    return stream
