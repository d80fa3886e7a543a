"""Ollama's own API, so that an Ollama client pointed here works unchanged, with a key in its
headers: /api/generate and /api/chat (NDJSON streams by default, `stream: false`), /api/tags,
/api/version. Requests pass to Ollama as they came (model checked against ALLOWED_MODELS);
answers keep Ollama's field names and final statistics line; errors are `{"error": "..."}`.
"""

from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shared.config import Settings
from shared.errors import AppError
from shared.ollama import STAT_FIELDS
from shared.stream import CHUNK, DONE, ERROR, Event
from web.dialects import Dialect, OllamaCall, Reply, Whole
from web.responses import dumps


def error_body(error: AppError) -> dict[str, str]:
    return {"error": error.message}


DIALECT = Dialect(
    "ollama",
    error_body=error_body,
    invalid_status=400,
    unknown_model="model '{name}' not found",  # Ollama's own words (server/routes.go)
)

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
    prompt: str = ""
    stream: bool = True

    def to_ollama(self, settings: Settings) -> OllamaCall:
        request = _passed_on(self, self.model, settings, GENERATE_FIELDS)
        request.setdefault("prompt", "")
        return OllamaCall("generate", request)

    def reply(self, generation_id: str) -> "Lines":
        return Lines(chat=False, model=self.model)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = True

    def to_ollama(self, settings: Settings) -> OllamaCall:
        return OllamaCall("chat", _passed_on(self, self.model, settings, CHAT_FIELDS))

    def reply(self, generation_id: str) -> "Lines":
        return Lines(chat=True, model=self.model)


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

    def _line(self, text: str, done: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "created_at": _now()}
        if self.chat:
            body["message"] = {"role": "assistant", "content": text}
        else:
            body["response"] = text
        body["done"] = done
        return body

    def whole(self, result: Whole) -> dict[str, Any]:
        return self.final(result.text, result.stats)

    def final(self, text: str, stats: dict[str, Any]) -> dict[str, Any]:
        body = self._line(text, True)
        body.update({name: stats[name] for name in STAT_FIELDS if name in stats})
        return body

    def encode(self, events: list[Event]) -> bytes:
        lines: list[bytes] = []
        for event in events:
            if event.type == CHUNK:
                lines.append(dumps(self._line(event.payload, False)))
            elif event.type == DONE:
                lines.append(dumps(self.final("", event.payload)))
            elif event.type == ERROR:
                lines.append(dumps({"error": str(event.payload.get("message"))}))
        return b"".join(line + b"\n" for line in lines)

    def error_event(self, seq: int, error: dict[str, Any]) -> bytes:
        return dumps({"error": str(error.get("message"))}) + b"\n"
