"""Ollama's own API, so that an Ollama client pointed here works unchanged, with a key in its
headers: /api/generate and /api/chat (NDJSON streams by default, `stream: false`), /api/tags,
/api/version. Requests pass to Ollama as they came (model checked against ALLOWED_MODELS);
answers keep Ollama's field names and final statistics line; errors are `{"error": "..."}`.
"""

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import AppError
from shared.ollama import STAT_FIELDS
from shared.stream import CHUNK, DONE, ERROR, Event
from web.responses import dumps

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


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    prompt: str = ""
    stream: bool = True


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = True


def to_ollama(body: BaseModel, model: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """The request as Ollama takes it: the fields it knows, the model resolved."""
    given = body.model_dump(exclude_unset=True)
    request = {name: given[name] for name in fields if given.get(name) is not None}
    request["model"] = model
    if "prompt" in fields:
        request.setdefault("prompt", "")
    return request


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def error_body(error: AppError) -> dict[str, str]:
    return {"error": error.message}


class Reply:
    """Ollama's lines for one generation, streamed as NDJSON or whole."""

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

    def error(self, seq: int, error: dict[str, Any]) -> bytes:
        return dumps({"error": str(error.get("message"))}) + b"\n"
