"""OpenAI's Responses API (`POST /v1/responses`, the API the Vercel AI SDK's `openai(model)` and
openai-python's `responses.create` use), on Ollama's `/api/chat`.

Mapped: `input` (a string, or items: messages with input_text / input_image (data: URLs) /
output_text parts, function_call, function_call_output, reasoning, item_reference),
`instructions` (a system message first), `max_output_tokens` (num_predict), `temperature`,
`top_p`, `text.format` (Ollama's `format`), `reasoning.effort` (Ollama's `think`; the thinking
comes back as a reasoning item), function `tools` and `tool_choice` (as in chat completions),
`previous_response_id` (the route puts the previous conversation in front, from its record),
`store` (false: the record keeps no content), `background`, `stream`, `user`. Echoed, because
they do not change the answer: metadata, parallel_tool_calls, truncation, service_tier,
prompt_cache_key, safety_identifier, reasoning.summary. Refused with 400, because the answer
would not be what was asked: conversation, prompt (templates), context_management, tools other
than functions, top_logprobs, include of logprobs, remote or file_id images, input_file. A
field sent as null means its default. Errors are OpenAI's envelope (the OpenAI dialect's).

The stream and the response object are built from the generation's events by
web/dialects/response_events.py.
"""

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from shared.config import Settings
from shared.errors import InvalidRequest
from shared.stream import CHUNK, DONE, ERROR, START, THINKING, TOOL_CALLS, Event
from web.dialects import OllamaCall, Reply, Whole
from web.dialects import openai as chat
from web.dialects.native import KEEPALIVE, SSE_HEADERS
from web.dialects.openai_messages import THINK, offered_tools, without_nulls
from web.dialects.response_events import ITEM_PREFIXES, ResponseBuilder
from web.dialects.response_input import Conversation
from web.responses import dumps

DIALECT = chat.DIALECT
RESPONSE_PREFIX = "resp_"
# A response's id, or an output item's (which also says its place in the output).
ID_PATTERN = re.compile(rf"^(resp|{'|'.join(ITEM_PREFIXES)})_([0-9a-f]{{32}})(_[0-9]+)?\Z")
REJECTED = ("conversation", "prompt", "context_management")
THINK = {**THINK, "xhigh": "high", "max": "high"}
# What a response object echoes of its request when the request is no longer known.
DEFAULT_ECHO: dict[str, Any] = {
    "instructions": None,
    "metadata": {},
    "tools": [],
    "tool_choice": "auto",
    "temperature": None,
    "top_p": None,
    "max_output_tokens": None,
    "previous_response_id": None,
    "reasoning": None,
    "text": {"format": {"type": "text"}},
    "background": False,
    "store": True,
    "user": None,
    "parallel_tool_calls": True,
    "truncation": "disabled",
    "service_tier": "default",
    "top_logprobs": 0,
}


def response_id(generation_id: str) -> str:
    return RESPONSE_PREFIX + uuid.UUID(generation_id).hex


def generation_of(some_id: str, kinds: tuple[str, ...] = ("resp",)) -> str | None:
    """The generation a response (or output item) id of ours names; None for any other id."""
    match = ID_PATTERN.match(some_id)
    if match is None or match[1] not in kinds or (match[1] == "resp") != (match[3] is None):
        return None
    return str(uuid.UUID(hex=match[2]))


def head(generation_id: str, created_at: float, echo: dict[str, Any]) -> dict[str, Any]:
    """The fields of a response object that never change."""
    return {
        "id": response_id(generation_id),
        "object": "response",
        "created_at": int(created_at),
        **DEFAULT_ECHO,
        **echo,
    }


class Reasoning(BaseModel):
    model_config = ConfigDict(extra="allow")
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    summary: str | None = None


@dataclass
class Context:
    """What the request names that only the records know, read by the route before
    `to_ollama`: the conversation of `previous_response_id` (Ollama's messages) and the
    output items `item_reference`s name."""

    history: list[dict[str, Any]] = field(default_factory=list)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)


class ResponsesRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    _nulls = model_validator(mode="before")(without_nulls)

    model: str
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    stream: bool = False
    background: bool = False
    store: bool = True
    previous_response_id: str | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    reasoning: Reasoning | None = None
    text: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    # The end user behind the key (see END_USER_HEADER).
    user: str | None = None
    include: list[str] | None = None
    top_logprobs: int | None = None
    parallel_tool_calls: bool | None = None
    truncation: Literal["auto", "disabled"] | None = None

    _context: Context = PrivateAttr(default_factory=Context)

    def given(self, context: Context) -> None:
        self._context = context

    def references(self) -> list[str]:
        """The ids of the items this request's input refers to (`item_reference`)."""
        items = self.input if isinstance(self.input, list) else []
        return [str(i.get("id")) for i in items if _is_reference(i)]

    def refuse_unsupported(self) -> None:
        extra = self.model_extra or {}
        for name in REJECTED:
            if extra.get(name):
                _refuse(name, "not supported by this server")
        if self.top_logprobs:
            _refuse("top_logprobs", "not supported")
        if "message.output_text.logprobs" in (self.include or []):
            _refuse("include", "message.output_text.logprobs: logprobs are not supported")
        if self.background and not self.store:
            _refuse("background", "a background response must be stored (store: true)")

    def to_ollama(self, settings: Settings) -> OllamaCall:
        self.refuse_unsupported()
        model = DIALECT.resolve_model(settings, self.model)
        options = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "num_predict": self.max_output_tokens,
        }
        request: dict[str, Any] = {
            "model": model,
            "messages": self.messages(),
            "options": {k: v for k, v in options.items() if v is not None},
        }
        if (fmt := _format((self.text or {}).get("format"))) is not None:
            request["format"] = fmt
        if self.reasoning is not None and self.reasoning.effort is not None:
            request["think"] = THINK[self.reasoning.effort]
        if tools := offered_tools(_function_tools(self.tools), _choice(self.tool_choice)):
            request["tools"] = tools
        return OllamaCall("chat", request)

    def messages(self) -> list[dict[str, Any]]:
        """The conversation as Ollama's messages: the instructions, the previous response's
        conversation (whose leading system messages new instructions replace), the input."""
        history = self._context.history
        if self.instructions is not None:
            while history and history[0].get("role") == "system":
                history = history[1:]
        conversation = Conversation(history)
        items: list[dict[str, Any]]
        if isinstance(self.input, str):
            items = [{"role": "user", "content": self.input}]
        else:
            items = self.input or []
        for item in items:
            if _is_reference(item):
                referenced = self._context.items.get(str(item.get("id")))
                if referenced is None:
                    _refuse("input", f"no stored output item {item.get('id')!r} of this key")
                item = referenced
            conversation.add(item)
        messages = conversation.messages
        if self.instructions is not None:
            messages.insert(0, {"role": "system", "content": self.instructions})
        if not any(m.get("role") != "system" for m in messages):
            _refuse("input", "required: a string, or at least one input item")
        return messages

    def echo(self) -> dict[str, Any]:
        """What the response object echoes of this request."""
        echo = {
            "model": self.model,
            "instructions": self.instructions,
            "metadata": self.metadata or {},
            "tools": self.tools or [],
            "tool_choice": self.tool_choice or "auto",
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_output_tokens": self.max_output_tokens,
            "previous_response_id": self.previous_response_id,
            "reasoning": self.reasoning.model_dump() if self.reasoning else None,
            "text": self.text or DEFAULT_ECHO["text"],
            "background": self.background,
            "store": self.store,
            "user": self.user,
            "truncation": self.truncation or "disabled",
        }
        if self.parallel_tool_calls is not None:
            echo["parallel_tool_calls"] = self.parallel_tool_calls
        return echo

    def reply(self, generation_id: str, created_at: float | None = None) -> "ResponseReply":
        """`created_at`: when the generation was queued (its record's time), if known."""
        created_at = time.time() if created_at is None else created_at
        builder = ResponseBuilder(generation_id, head(generation_id, created_at, self.echo()))
        return ResponseReply(builder)


def _refuse(name: str, why: str) -> NoReturn:
    raise InvalidRequest(f"{name}: {why}", details=[{"loc": [name]}])


def _is_reference(item: dict[str, Any]) -> bool:
    kind = item.get("type")
    return kind == "item_reference" or (kind is None and "role" not in item and "id" in item)


def _function_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Responses' function tools (`{"type": "function", "name", "parameters", ...}`) in the
    shape Ollama and chat completions share."""
    converted = []
    for tool in tools or []:
        if tool.get("type") != "function" or not isinstance(tool.get("name"), str):
            _refuse("tools", f"only function tools are supported, not {tool.get('type')!r}")
        function: dict[str, Any] = {
            "name": tool["name"],
            "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
        }
        if tool.get("description"):
            function["description"] = tool["description"]
        converted.append({"type": "function", "function": function})
    return converted


def _choice(choice: str | dict[str, Any] | None) -> Any:
    """Responses' `tool_choice` in chat completions' shape (a named function nests its name)."""
    if isinstance(choice, dict) and choice.get("type") == "function" and "name" in choice:
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def _format(fmt: dict[str, Any] | None) -> Any:
    kind = (fmt or {}).get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema" and isinstance((fmt or {}).get("schema"), dict):
        return (fmt or {})["schema"]
    _refuse("text", f"format {kind!r} needs an object `schema`, or is not supported")


class ResponseReply(Reply):
    """A response streamed as OpenAI's events (`event:` its type, `data:` the event), or whole.
    `after`: the events a resuming client has already (`starting_after`) are not sent again.

    No `id:` lines, as OpenAI sends none: openai-python's SSE decoder, once it has seen an id,
    takes the blank line after a keep-alive comment for an empty event and fails on it.

    While the generation waits in the queue, a comment `: queued {"position": 2,
    "estimated_wait_seconds": 4.5}` replaces the keep-alive (comments have no sequence number,
    so the numbering stays a function of the generation's events alone).
    """

    keepalive = KEEPALIVE
    headers = SSE_HEADERS
    shows_queue = True

    def __init__(self, builder: ResponseBuilder, *, after: int = -1, replay: bool = False) -> None:
        self.builder = builder
        self.after = after
        # A stream asked for again (GET ?stream=true) is its events, however it ended.
        self.early_errors = not replay

    def encode(self, events: list[Event]) -> bytes:
        return b"".join(
            b"event: %s\ndata: %s\n\n" % (event["type"].encode(), dumps(event))
            for event in self.builder.feed(events)
            if event["sequence_number"] > self.after
        )

    def error_event(self, seq: int, error: dict[str, Any]) -> bytes:
        return self.encode([Event(seq, ERROR, error)])

    def whole(self, result: Whole) -> dict[str, Any]:
        self.builder.feed(events_of(result))
        return self.builder.snapshot()

    def queued(self, status: dict[str, Any]) -> bytes:
        return b": queued %s\n\n" % dumps(status)


def events_of(
    result: Whole, *, started: bool = True, error: dict[str, Any] | None = None
) -> list[Event]:
    """A whole answer (or, with `error`, the part of one a failed generation made) as the
    events that would have streamed it; their numbers do not matter to the builder."""
    events = [Event(0, START, {})] if started else []
    if result.thinking:
        events.append(Event(0, THINKING, result.thinking))
    if result.text:
        events.append(Event(0, CHUNK, result.text))
    if result.tool_calls:
        events.append(Event(0, TOOL_CALLS, result.tool_calls))
    events.append(Event(0, DONE, result.stats) if error is None else Event(0, ERROR, error))
    return events
