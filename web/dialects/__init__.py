"""The APIs this server speaks, one module each, on the same queue: native (`native.py`, the seed's
`/api/v1/generate`), OpenAI's (`openai.py`) and Ollama's (`ollama.py`).

A dialect module exports one `Dialect` object, which knows the dialect's error envelope and the
status it gives an invalid request; every route of the dialect's router carries it
(`router = APIRouter(route_class=DIALECT.route_class)`), and web/errors.py renders an error in
the envelope of the route that raised it. The module also holds the dialect's request models:
each is a `GenerationRequest` that translates itself to Ollama (`to_ollama`, as vLLM's request
models do) and makes the `Reply` of one generation: its stream framing and its whole answer.

Adding a dialect adds a module here and a router in web/routes/; nothing else changes.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Literal, Protocol

from fastapi.routing import APIRoute

from shared.config import Settings
from shared.errors import AppError, UnknownModel
from shared.stream import Event


@dataclass(frozen=True, slots=True)
class OllamaCall:
    """What a worker sends to Ollama for one job: `/api/<kind>` with `request`."""

    kind: Literal["generate", "chat", "embed"]
    request: dict[str, Any]


@dataclass(slots=True)
class Whole:
    """A generation collected to its end: its text, Ollama's final statistics, and what else
    it streamed (the thinking, tool calls in Ollama's shape, an embedding job's result)."""

    text: str
    stats: dict[str, Any]
    thinking: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None


class Reply(ABC):
    """One generation's answer in a dialect: streamed (`encode` each batch of events) or whole."""

    media_type: ClassVar[str] = "text/event-stream"
    # Written on an idle tick (NDJSON has no comment line: b"", nothing is sent).
    keepalive: ClassVar[bytes] = b""
    headers: ClassVar[dict[str, str]] = {}
    # Whether idle ticks in the queue write `queued` (the generation's place) for this reply.
    shows_queue: ClassVar[bool] = False
    # Whether a generation that fails before it produced anything is answered with the error's
    # own HTTP status instead of a stream (a stream replayed for its events says it in them).
    early_errors: bool = True

    @abstractmethod
    def encode(self, events: list[Event]) -> bytes:
        """The bytes for a batch of events (chunks, the end, an error); may be empty."""

    @abstractmethod
    def error_event(self, seq: int, error: dict[str, Any]) -> bytes:
        """A stream's last event when it fails on the web side (a bound, a lost worker)."""

    @abstractmethod
    def whole(self, result: Whole) -> dict[str, Any]:
        """The JSON body of a non-streamed answer."""

    def queued(self, status: dict[str, Any]) -> bytes:
        """Written instead of a keep-alive while the generation waits (position, wait), if
        `shows_queue`."""
        return self.keepalive


class WholeReply(Reply):
    """A reply that is never streamed (an embedding job's): only its whole answer."""

    def encode(self, events: list[Event]) -> bytes:
        return b""

    def error_event(self, seq: int, error: dict[str, Any]) -> bytes:
        return b""


class GenerationRequest(Protocol):
    """A dialect's request model for one generation (or embedding job)."""

    @property
    def stream(self) -> bool: ...

    def to_ollama(self, settings: Settings) -> OllamaCall: ...

    def reply(self, generation_id: str) -> Reply: ...


@dataclass(frozen=True)
class Dialect:
    name: str
    # The error envelope: `{"error": ...}` in the dialect's shape.
    error_body: Callable[[AppError], dict[str, Any]]
    # The status of a request the dialect cannot parse: 422 natively; OpenAI and Ollama say 400.
    invalid_status: int = 422
    # How it refuses a model it may not use; `{name}` is the model asked for.
    unknown_model: str = "unknown model {name!r}"

    def error_status(self, error: AppError) -> int:
        return self.invalid_status if error.status_code == 422 else error.status_code

    def resolve_model(self, settings: Settings, name: str) -> str:
        """The allowed model `name` means; UnknownModel (in this dialect's words) if none."""
        model = settings.allowed_model(name)
        if model is None:
            raise UnknownModel(self.unknown_model.format(name=name))
        return model

    @cached_property
    def route_class(self) -> type[APIRoute]:
        """An APIRoute class whose routes carry this dialect (read by web/errors.py)."""
        return type(f"{self.name.title()}Route", (APIRoute,), {"dialect": self})
