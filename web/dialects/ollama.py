"""Ollama's own API, so that an Ollama client pointed here works unchanged, with a key in its
headers: /api/generate and /api/chat (NDJSON streams by default, `stream: false`), /api/embed
and /api/embeddings, and what Ollama says about its models (/api/tags, /api/ps, /api/show).
Requests pass to Ollama as they came (model checked against ALLOWED_MODELS); answers keep
Ollama's field names and final statistics line, and relay its `thinking` and `tool_calls`
exactly, streamed and whole; errors are `{"error": "..."}`.

As Ollama does, a body is read as JSON whatever its Content-Type says (LiteLLM's Ollama
providers send none, `curl -d` sends a form's): every route of this dialect is a `Route`.
"""

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar

from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from shared.config import Settings
from shared.errors import AppError, InvalidRequest
from shared.ollama import STAT_FIELDS
from shared.stream import CHUNK, DONE, ERROR, THINKING, TOOL_CALLS, Event
from web.dialects import Dialect, OllamaCall, Reply, Whole, WholeReply
from web.responses import dumps


def error_body(error: AppError) -> dict[str, str]:
    return {"error": error.message}


class OllamaDialect(Dialect):
    """Ollama's: its routes are `Route`s (below)."""

    @cached_property
    def route_class(self) -> type[APIRoute]:
        return Route


DIALECT = OllamaDialect(
    "ollama",
    error_body=error_body,
    invalid_status=400,
    unknown_model="model '{name}' not found",  # Ollama's own words (server/routes.go)
)

JSON_TYPE = (b"content-type", b"application/json")


class JsonBody(Request):
    """A request whose body FastAPI reads as JSON whatever Content-Type it names (Ollama reads
    every body with `c.ShouldBindJSON`, which does not look at it)."""

    @property
    def headers(self) -> Headers:
        if not hasattr(self, "_json_headers"):
            raw = [(k, v) for k, v in self.scope["headers"] if k != b"content-type"]
            self._json_headers = Headers(raw=[*raw, JSON_TYPE])
        return self._json_headers


class Route(APIRoute):
    """A route of the Ollama dialect: its errors in Ollama's shape (web/errors.py reads
    `dialect`), its body JSON whatever its Content-Type."""

    dialect: ClassVar[Dialect] = DIALECT

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def read_as_json(request: Request) -> Response:
            return await handler(JsonBody(request.scope, request.receive))

        return read_as_json


GENERATE_FIELDS = (
    "prompt",
    "suffix",
    "system",
    "template",
    "raw",
    "format",
    "options",
    "keep_alive",
    "think",
    "images",
)
CHAT_FIELDS = ("messages", "tools", "format", "options", "keep_alive", "think")


def _passed_on(
    body: BaseModel, model: str, settings: Settings, fields: tuple[str, ...]
) -> dict[str, Any]:
    """The request as Ollama takes it: the fields it knows, the model resolved."""
    given = body.model_dump(exclude_unset=True)
    request = {name: given[name] for name in fields if given.get(name) is not None}
    request["model"] = DIALECT.resolve_model(settings, model)
    return request


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    prompt: str | None = None  # as Ollama reads it, null is ""
    stream: bool = True

    @property
    def loads_only(self) -> bool:
        """An empty prompt asks Ollama to load the model (with `keep_alive: 0`, to unload it)."""
        return not self.prompt

    def to_ollama(self, settings: Settings) -> OllamaCall:
        request = _passed_on(self, self.model, settings, GENERATE_FIELDS)
        request.setdefault("prompt", "")
        return OllamaCall("generate", request)

    def reply(self, generation_id: str) -> "Lines":
        return Lines(chat=False, model=self.model)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[dict[str, Any]] = Field(default_factory=list)
    stream: bool = True

    @property
    def loads_only(self) -> bool:
        """No messages ask Ollama to load the model (with `keep_alive: 0`, to unload it)."""
        return not self.messages

    def to_ollama(self, settings: Settings) -> OllamaCall:
        return OllamaCall("chat", _passed_on(self, self.model, settings, CHAT_FIELDS))

    def reply(self, generation_id: str) -> "Lines":
        return Lines(chat=True, model=self.model)


def load_answer(kind: str) -> dict[str, Any]:
    """What Ollama answers a load, for a load this server answers itself."""
    answer: dict[str, Any] = {"created_at": _now()}
    if kind == "chat":
        answer["message"] = {"role": "assistant", "content": ""}
    else:
        answer["response"] = ""
    return answer | {"done": True, "done_reason": "load"}


def loaded(answer: dict[str, Any], model: str) -> dict[str, Any]:
    """Ollama's answer to a load or an unload, naming the model as the client did."""
    return {**answer, "model": model}


class ShowRequest(BaseModel):
    """POST /api/show: `model` (or the older `name`), and `verbose`."""

    model_config = ConfigDict(extra="allow")
    model: str = ""
    name: str = ""
    verbose: bool | None = None

    def to_ollama(self, settings: Settings) -> dict[str, Any]:
        named = self.model or self.name
        if not named:
            raise InvalidRequest("model is required")  # Ollama's words
        request: dict[str, Any] = {"model": DIALECT.resolve_model(settings, named)}
        if self.verbose is not None:
            request["verbose"] = self.verbose
        return request


def allowed_listing(settings: Settings, listing: Any) -> dict[str, Any]:
    """Ollama's /api/tags or /api/ps, with only the models a key may use."""
    models = listing.get("models") if isinstance(listing, dict) else None
    kept = [
        entry
        for entry in models or []
        if isinstance(entry, dict)
        and _allowed(settings, str(entry.get("model") or entry.get("name") or ""))
    ]
    return {**listing, "models": kept} if isinstance(listing, dict) else {"models": kept}


def _allowed(settings: Settings, listed: str) -> bool:
    """Whether a model as Ollama lists it (`llama3:latest`) is allowed (as `llama3` or
    `llama3:latest`)."""
    return bool(
        settings.allowed_model(listed) or settings.allowed_model(listed.removesuffix(":latest"))
    )


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Lines(Reply):
    """Ollama's lines for one generation, streamed as NDJSON or whole. NDJSON has no comment
    line: like Ollama, nothing is sent while the request waits."""

    media_type = "application/x-ndjson"
    headers: ClassVar[dict[str, str]] = {"X-Accel-Buffering": "no"}

    def __init__(self, *, chat: bool, model: str) -> None:
        self.chat = chat
        self.model = model

    def _line(
        self,
        text: str,
        done: bool,
        thinking: str = "",
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "created_at": _now()}
        if self.chat:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if thinking:
                message["thinking"] = thinking
            if tool_calls:
                message["tool_calls"] = tool_calls
            body["message"] = message
        else:
            body["response"] = text
            if thinking:
                body["thinking"] = thinking
        body["done"] = done
        return body

    def whole(self, result: Whole) -> dict[str, Any]:
        return self.final(result.text, result.stats, result.thinking, result.tool_calls)

    def final(
        self,
        text: str,
        stats: dict[str, Any],
        thinking: str = "",
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        body = self._line(text, True, thinking, tool_calls)
        body.update({name: stats[name] for name in STAT_FIELDS if name in stats})
        return body

    def encode(self, events: list[Event]) -> bytes:
        lines: list[bytes] = []
        for event in events:
            if event.type == CHUNK:
                lines.append(dumps(self._line(event.payload, False)))
            elif event.type == THINKING:
                lines.append(dumps(self._line("", False, thinking=event.payload)))
            elif event.type == TOOL_CALLS:
                lines.append(dumps(self._line("", False, tool_calls=event.payload)))
            elif event.type == DONE:
                lines.append(dumps(self.final("", event.payload)))
            elif event.type == ERROR:
                lines.append(dumps({"error": str(event.payload.get("message"))}))
        return b"".join(line + b"\n" for line in lines)

    def error_event(self, seq: int, error: dict[str, Any]) -> bytes:
        return dumps({"error": str(error.get("message"))}) + b"\n"


class EmbedRequest(BaseModel):
    """POST /api/embed: a text or a list of them, one job for all."""

    model_config = ConfigDict(extra="allow")
    model: str
    input: str | list[str] = Field(default_factory=list)

    @property
    def stream(self) -> bool:
        return False

    def to_ollama(self, settings: Settings) -> OllamaCall:
        request = _passed_on(self, self.model, settings, EMBED_FIELDS)
        request["input"] = self.input
        return OllamaCall("embed", request)

    def reply(self, generation_id: str) -> "Vectors":
        return Vectors(self.model, legacy=False)


class EmbeddingsRequest(BaseModel):
    """POST /api/embeddings, the older form: one `prompt`, one `embedding`."""

    model_config = ConfigDict(extra="allow")
    model: str
    prompt: str = ""

    @property
    def stream(self) -> bool:
        return False

    def to_ollama(self, settings: Settings) -> OllamaCall:
        request = _passed_on(self, self.model, settings, LEGACY_EMBED_FIELDS)
        request["prompt"] = self.prompt
        return OllamaCall("embed", request)

    def reply(self, generation_id: str) -> "Vectors":
        return Vectors(self.model, legacy=True)


EMBED_FIELDS = ("input", "truncate", "dimensions", "options", "keep_alive")
LEGACY_EMBED_FIELDS = ("prompt", "options", "keep_alive")


class Vectors(WholeReply):
    """Ollama's embedding answers, whole: /api/embed's `embeddings` with its statistics, or
    /api/embeddings' one `embedding`."""

    media_type = "application/json"

    def __init__(self, model: str, *, legacy: bool) -> None:
        self.model = model
        self.legacy = legacy

    def whole(self, result: Whole) -> dict[str, Any]:
        found = result.result or {}
        if self.legacy:
            return {"embedding": found.get("embedding") or []}
        body: dict[str, Any] = {"model": self.model, "embeddings": found.get("embeddings") or []}
        body.update(result.stats)
        return body
