"""OpenAI's API, as far as a local model can honour it: requests in, Ollama requests out, and
OpenAI's objects, stream chunks and error envelope back.

Parameters mapped to Ollama: temperature, top_p, max_tokens / max_completion_tokens
(num_predict), stop, seed, presence_penalty, frequency_penalty, response_format (json_object,
json_schema: Ollama's `format`), reasoning_effort (Ollama's `think`; the reasoning comes back as
`reasoning_content`, the field vLLM, DeepSeek and LiteLLM use), tools and tool_choice (Ollama's
`tools`; its tool calls come back as OpenAI's `tool_calls`), image_url parts with data: URLs
(Ollama's `images`). Ignored, because they do not change the answer: metadata, store,
service_tier, parallel_tool_calls, modalities ["text"], stream_options other than
include_usage, n=1, logprobs=false. Rejected with 400, because the answer would not be what was
asked: n>1, functions / function_call (the pre-tools form), tool_choice "required",
logprobs=true, logit_bias, audio, prediction, remote image URLs, best_of>1 and echo
(completions). A field sent as null means its default. Messages, tools and images are
translated in openai_messages.py (the Responses API shares them); embeddings are in
openai_embeddings.py.
"""

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.config import Settings
from shared.errors import AppError, BudgetExceeded, InvalidRequest
from shared.stream import CHUNK, DONE, ERROR, THINKING, TOOL_CALLS, Event
from web.dialects import Dialect, OllamaCall, Reply, Whole
from web.dialects.native import SSE_HEADERS
from web.dialects.openai_messages import (
    THINK,
    Message,
    offered_tools,
    ollama_messages,
    openai_tool_calls,
    without_nulls,
)
from web.responses import dumps


def error_body(error: AppError) -> dict[str, Any]:
    """OpenAI's envelope: `type` by status class, `code` our own type."""
    if isinstance(error, BudgetExceeded):
        kind = "insufficient_quota"  # what OpenAI says when a spending limit is reached
    elif error.status_code == 429:
        kind = "requests"
    elif error.status_code < 500:
        kind = "invalid_request_error"
    else:
        kind = "api_error"
    details = error.to_dict().get("details") or [{}]
    loc = [str(p) for p in details[0].get("loc", []) if p != "body"]
    return {
        "error": {
            "message": error.message,
            "type": kind,
            "param": ".".join(loc) or None,
            "code": error.type,
        }
    }


DIALECT = Dialect(
    "openai",
    error_body=error_body,
    invalid_status=400,
    unknown_model="The model `{name}` does not exist or you do not have access to it.",
)

# Comments without the blank line after them (a comment needs none): openai-python's SSE decoder
# (3.57) turns a blank line into an empty event, and fails on it, once an event had an `id:`.
KEEPALIVE = b": keep-alive\n"

REJECTED = (
    "functions",
    "function_call",
    "logit_bias",
    "audio",
    "prediction",
)


class Common(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str

    _nulls = model_validator(mode="before")(without_nulls)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    n: int = 1
    # The end user behind the key (the queue is fair between them; see END_USER_HEADER).
    user: str | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None

    def options(self) -> dict[str, Any]:
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        pairs = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "num_predict": self.max_tokens,
            "stop": stop,
            "seed": self.seed,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
        }
        return {k: v for k, v in pairs.items() if v is not None}

    def refuse_unsupported(self) -> None:
        extra = self.model_extra or {}
        for name in REJECTED:
            if extra.get(name):
                raise InvalidRequest(
                    f"{name}: not supported by this server", details=[{"loc": [name]}]
                )
        if self.n != 1:
            raise InvalidRequest("n: only n=1 is supported", details=[{"loc": ["n"]}])
        if self.logprobs or self.top_logprobs:
            name = "logprobs" if self.logprobs else "top_logprobs"
            raise InvalidRequest(f"{name}: not supported", details=[{"loc": [name]}])

    @property
    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class ChatRequest(Common):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    response_format: dict[str, Any] | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None

    def to_ollama(self, settings: Settings) -> OllamaCall:
        self.refuse_unsupported()
        model = DIALECT.resolve_model(settings, self.model)
        messages = ollama_messages(self.messages)
        options = self.options()
        if self.max_completion_tokens is not None:
            options["num_predict"] = self.max_completion_tokens
        request: dict[str, Any] = {"model": model, "messages": messages, "options": options}
        if (fmt := _format(self.response_format)) is not None:
            request["format"] = fmt
        if self.reasoning_effort is not None:
            request["think"] = THINK[self.reasoning_effort]
        if tools := offered_tools(self.tools, self.tool_choice):
            request["tools"] = tools
        return OllamaCall("chat", request)

    def reply(self, generation_id: str) -> "Completion":
        return Completion(
            chat=True,
            generation_id=generation_id,
            model=self.model,
            include_usage=self.include_usage,
        )


class CompletionRequest(Common):
    prompt: str | list[str]
    suffix: str | None = None
    echo: bool = False
    best_of: int | None = None

    def to_ollama(self, settings: Settings) -> OllamaCall:
        self.refuse_unsupported()
        model = DIALECT.resolve_model(settings, self.model)
        if (self.model_extra or {}).get("tools"):
            raise InvalidRequest(
                "tools: only chat completions take tools", details=[{"loc": ["tools"]}]
            )
        if self.echo or (self.best_of or 1) > 1:
            raise InvalidRequest("echo and best_of are not supported")
        prompts = [self.prompt] if isinstance(self.prompt, str) else self.prompt
        if len(prompts) != 1:
            raise InvalidRequest(
                "prompt: exactly one prompt is supported", details=[{"loc": ["prompt"]}]
            )
        request: dict[str, Any] = {"model": model, "prompt": prompts[0], "options": self.options()}
        if self.suffix is not None:
            request["suffix"] = self.suffix
        return OllamaCall("generate", request)

    def reply(self, generation_id: str) -> "Completion":
        return Completion(
            chat=False,
            generation_id=generation_id,
            model=self.model,
            include_usage=self.include_usage,
        )


def _format(response_format: dict[str, Any] | None) -> Any:
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (response_format or {}).get("json_schema", {}).get("schema")
        if not isinstance(schema, dict):
            raise InvalidRequest("response_format.json_schema.schema: an object is required")
        return schema
    raise InvalidRequest(f"response_format.type: {kind!r} is not supported")


def finish_reason(stats: dict[str, Any], tool_calls: bool = False) -> str:
    if tool_calls:
        return "tool_calls"
    return "length" if stats.get("done_reason") == "length" else "stop"


def usage(stats: dict[str, Any]) -> dict[str, int]:
    prompt, completion = int(stats.get("prompt_eval_count") or 0), int(stats.get("eval_count") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class Completion(Reply):
    """One answer in OpenAI's shape: whole, or as stream chunks (with its own state).

    Beyond OpenAI's framing, which clients ignore as the SSE standard says they must: each
    event's `id:` (its sequence number, so that a client can resume with Last-Event-ID at
    GET /api/v1/generations/{id}/stream) and, while the generation waits in the queue, a comment
    `: queued {"position": 2, "estimated_wait_seconds": 4.5}` in place of the keep-alive.
    """

    keepalive = KEEPALIVE
    headers = SSE_HEADERS
    shows_queue = True

    def __init__(self, *, chat: bool, generation_id: str, model: str, include_usage: bool) -> None:
        self.chat = chat
        self.id = ("chatcmpl-" if chat else "cmpl-") + generation_id
        self.model = model
        self.created = int(time.time())
        self.include_usage = include_usage
        self.generation_id = generation_id
        self._started = False
        self._calls = 0  # tool calls so far: the next one's index

    def whole(self, result: Whole) -> dict[str, Any]:
        text, stats = result.text, result.stats
        if self.chat:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if result.thinking:
                message["reasoning_content"] = result.thinking
            if result.tool_calls:
                message["tool_calls"] = openai_tool_calls(result.tool_calls, self.generation_id)
                message["content"] = text or None
            choice: dict[str, Any] = {"index": 0, "message": message}
        else:
            choice = {"index": 0, "text": text}
        choice |= {"logprobs": None, "finish_reason": finish_reason(stats, bool(result.tool_calls))}
        return {
            **self._head("chat.completion" if self.chat else "text_completion"),
            "choices": [choice],
            "usage": usage(stats),
        }

    def _head(self, kind: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
        }

    def _chunk(self, delta_or_text: Any, finish: str | None, seq: int | None = None) -> bytes:
        if self.chat:
            choice = {"index": 0, "delta": delta_or_text, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": delta_or_text, "logprobs": None, "finish_reason": finish}
        body = {
            **self._head("chat.completion.chunk" if self.chat else "text_completion"),
            "choices": [choice],
        }
        if self.include_usage:
            body["usage"] = None
        head = b"id: %d\n" % seq if seq is not None else b""
        return head + b"data: " + dumps(body) + b"\n\n"

    def encode(self, events: list[Event]) -> bytes:
        parts: list[bytes] = []
        for event in events:
            if event.type == CHUNK:
                self._start(parts)
                delta = {"content": event.payload} if self.chat else event.payload
                parts.append(self._chunk(delta, None, event.seq))
            elif event.type == THINKING and self.chat:
                self._start(parts)
                parts.append(self._chunk({"reasoning_content": event.payload}, None, event.seq))
            elif event.type == TOOL_CALLS and self.chat:
                self._start(parts)
                calls = openai_tool_calls(event.payload, self.generation_id, self._calls)
                indexed = [{"index": self._calls + i, **c} for i, c in enumerate(calls)]
                self._calls += len(calls)
                parts.append(self._chunk({"tool_calls": indexed}, None, event.seq))
            elif event.type == DONE:
                finish = finish_reason(event.payload, self._calls > 0)
                parts.append(self._chunk({} if self.chat else "", finish, event.seq))
                if self.include_usage:
                    kind = "chat.completion.chunk" if self.chat else "text_completion"
                    tail = {**self._head(kind), "choices": [], "usage": usage(event.payload)}
                    parts.append(b"data: " + dumps(tail) + b"\n\n")
                parts.append(b"data: [DONE]\n\n")
            elif event.type == ERROR:
                parts.append(self.error_event(event.seq, event.payload))
        return b"".join(parts)

    def _start(self, parts: list[bytes]) -> None:
        """A chat stream's first chunk names the role, as OpenAI's does."""
        if self.chat and not self._started:
            parts.append(self._chunk({"role": "assistant", "content": ""}, None))
        self._started = True

    def error_event(self, seq: int, error: dict[str, Any]) -> bytes:
        body = {
            "error": {
                "message": str(error.get("message", "generation failed")),
                "type": "api_error",
                "param": None,
                "code": error.get("type"),
            }
        }
        return b"id: %d\ndata: %s\n\n" % (seq, dumps(body))

    def queued(self, status: dict[str, Any]) -> bytes:
        return b": queued %s\n" % dumps(status)
