"""What reached "Ollama": one record per request, for tests to read at GET /sim/requests.

Every request to a generation, embedding or model-management endpoint is recorded, accepted or
not; the read-only listings (`/`, `/api/version`, `/api/tags`, `/api/ps`, `GET /v1/models`) are
not, since health checks poll them. A record holds:

    id, path, model, prompt     the model as named; the prompt (chat: the last user message's
                                content; embeddings: the first input)
    stream, options
    extras                      other request fields as sent: format, think, system, keep_alive,
                                suffix, raw, template, messages (each message's `images` replaced
                                by `image_bytes`, their decoded sizes), input, truncate, ...
    think                       what the model did: false, true, or the level it thought at
    tools, tool_calls           the tools offered (as sent); the calls the model answered
    images                      {"count": n, "bytes": [decoded size, ...]} (never the data)
    inputs                      embeddings: how many texts were embedded
    thinking_sent, thinking     thinking chunks and their text
    tokens_sent, text           answer chunks and their text
    status, error, done_reason  the HTTP status and Ollama's error text, if any
    outcome                     running | completed | client_closed | fault | rejected
    started, ended              Unix times
"""

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from simulator.script import Script


@dataclass
class Record:
    id: int
    path: str
    model: str
    prompt: str = ""
    stream: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    extras: dict[str, Any] = field(default_factory=dict)
    think: bool | str = False
    tools: list[Any] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, Any] = field(default_factory=lambda: {"count": 0, "bytes": []})
    inputs: int | None = None
    thinking_sent: int = 0
    thinking: str = ""
    tokens_sent: int = 0
    text: str = ""
    status: int = 200
    error: str | None = None
    done_reason: str | None = None
    outcome: str = "running"
    ended: float | None = None

    def end(self, outcome: str, status: int | None = None, error: str | None = None) -> None:
        self.outcome, self.ended = outcome, time.time()
        if status is not None:
            self.status = status
        if error is not None:
            self.error = error

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class Records:
    """The last `limit` records, and how often each keyed fault has fired."""

    def __init__(self, limit: int) -> None:
        self._items: deque[Record] = deque(maxlen=limit)
        self._ids = itertools.count(1)
        self._fault_counts: dict[str, int] = {}

    def open(self, path: str, model: str, **fields: Any) -> Record:
        record = Record(next(self._ids), path, model, **fields)
        self._items.append(record)
        return record

    def fault_applies(self, script: Script) -> bool:
        """Whether this request gets the directive's fault (`times` counts per `key`)."""
        if script.fault is None:
            return False
        if script.times is None:
            return True
        key = script.key or ""
        seen = self._fault_counts.get(key, 0)
        self._fault_counts[key] = seen + 1
        return seen < int(script.times)

    def clear(self) -> None:
        self._items.clear()
        self._fault_counts.clear()

    def as_list(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self._items]
