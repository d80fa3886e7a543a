"""Ollama's OpenAI-compatible generation: /v1/chat/completions and /v1/completions (its
/v1/embeddings is in simulator/embed.py, /v1/models in simulator/models.py).

As in Ollama, each converts the OpenAI request into a native one (openai.FromChatRequest and
FromCompleteRequest: `max_tokens` becomes `num_predict`, `temperature` and `top_p` default to
1.0, `stop` becomes a list, `response_format` becomes `format`, `reasoning_effort` becomes
`think`, content parts become messages of their own, data-URL images become `images`), runs the
native handler (same checks, text, pace and faults) and rewrites its answer in OpenAI's shape
(simulator/openai_chunks.py). Records keep the native request, and the OpenAI-only fields under
`extras.openai`.
"""

import base64
from typing import Any

import orjson
from aiohttp import web

from simulator.decode import check_types, read
from simulator.generation import describe, serve
from simulator.openai_chunks import ChatChunks, CompletionChunks, openai_error
from simulator.state import simulator_of
from simulator.wire import OllamaError, go_b64decode, go_quote, json_kind, read_body

# OpenAI's efforts beyond Ollama's levels are clamped to the nearest level, as Ollama does.
EFFORTS: dict[str, bool | str] = {
    **{"none": False, "minimal": "low", "low": "low", "medium": "medium", "high": "high"},
    **{"max": "max", "xhigh": "max", "ultra": "max"},
}
IMAGE_PREFIXES = tuple(f"data:image/{t};base64," for t in ("jpeg", "jpg", "png", "webp"))
CHAT_FIELDS = {
    **{"model": "string", "stream": "bool", "messages": "[]openai.Message"},
    **{"tools": "[]api.Tool", "max_tokens": "int", "top_logprobs": "int"},
}
COMPLETION_FIELDS = {
    **{"model": "string", "stream": "bool", "prompt": "string", "suffix": "string"},
    "max_tokens": "int",
}
GO_TYPE_NAMES: dict[type, str] = {
    **{str: "string", bool: "bool", int: "float64", float: "float64"},
    **{list: "[]interface {}", dict: "map[string]interface {}"},
}


def go_type_name(value: Any) -> str:
    """Go's %T of a decoded JSON value."""
    return GO_TYPE_NAMES.get(type(value), "<nil>")


def think_from(body: dict[str, Any]) -> bool | str | None:
    """openai.thinkFromReasoningEffort: `reasoning.effort`, else `reasoning_effort`."""
    reasoning = body.get("reasoning")
    effort = (
        reasoning.get("effort") if isinstance(reasoning, dict) else body.get("reasoning_effort")
    )
    if not effort:
        return None
    if effort not in EFFORTS:
        raise OllamaError(
            400,
            f'invalid reasoning value: {go_quote(str(effort))} (must be "minimal", "low", '
            '"medium", "high", "xhigh", "ultra", "max", or "none")',
        )
    return EFFORTS[effort]


def image_from(url: Any) -> str:
    """A data-URL image as native base64 (openai.decodeImageURL's checks and errors)."""
    url = str(url)
    if url.startswith(("http://", "https://")):
        raise OllamaError(
            400, "image URLs are not currently supported, please use base64 encoded data instead"
        )
    if url.startswith("data:;base64,"):
        data = url.removeprefix("data:;base64,")
    elif url.startswith(IMAGE_PREFIXES):
        data = url.split(",", 1)[1]
    else:
        raise OllamaError(400, "invalid image input")
    try:
        return base64.b64encode(go_b64decode(data)).decode()
    except ValueError:
        raise OllamaError(400, "invalid image input") from None


def part_message(role: str, part: Any) -> dict[str, Any]:
    """One content part as a native message of its own (how Ollama's openai layer splits them)."""
    if not isinstance(part, dict):
        raise OllamaError(400, "invalid message format")
    kind = part.get("type")
    if kind == "text" and isinstance(part.get("text"), str):
        return {"role": role, "content": part["text"]}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise OllamaError(400, "invalid message format")
        return {"role": role, "content": "", "images": [image_from(url)]}
    if kind == "input_audio":
        audio = part.get("input_audio")
        data = audio.get("data") if isinstance(audio, dict) else None
        if not isinstance(data, str):
            raise OllamaError(400, "invalid input_audio format: missing data")
        try:
            audio_bytes = go_b64decode(data)
        except ValueError as e:
            raise OllamaError(400, f"invalid input_audio base64 data: {e}") from None
        return {"role": role, "content": "", "images": [base64.b64encode(audio_bytes).decode()]}
    raise OllamaError(400, "invalid message format")


def native_calls(calls: Any) -> list[dict[str, Any]]:
    """openai.FromCompletionToolCall: arguments from a JSON string to an object."""
    converted = []
    for given in calls or []:
        call: dict[str, Any] = given if isinstance(given, dict) else {}
        function: dict[str, Any] = (
            call["function"] if isinstance(call.get("function"), dict) else {}
        )
        try:
            arguments = orjson.loads(function.get("arguments") or "")
        except (orjson.JSONDecodeError, TypeError):
            arguments = None
        if not isinstance(arguments, dict):
            raise OllamaError(400, "invalid tool call arguments")
        native = {
            "function": {"index": 0, "name": function.get("name", ""), "arguments": arguments}
        }
        converted.append({"id": call["id"], **native} if call.get("id") else native)
    return converted


def tool_name_of(messages: list[Any], wanted: Any) -> str:
    """The name of the (latest) tool call whose id a tool message answers."""
    for message in reversed(messages):
        for call in message.get("tool_calls") or []:
            if wanted and isinstance(call, dict) and call.get("id") == wanted:
                return str((call.get("function") or {}).get("name") or "")
    return ""


def native_messages(messages: list[Any]) -> list[dict[str, Any]]:
    """openai.FromChatRequest's messages."""
    converted: list[dict[str, Any]] = []
    for msg in messages:
        if not isinstance(msg, dict):
            where = "Go struct field ChatCompletionRequest.messages of type openai.Message"
            raise OllamaError(400, f"json: cannot unmarshal {json_kind(msg)} into {where}")
        role, content = str(msg.get("role") or ""), msg.get("content")
        extra: dict[str, Any] = {}
        if role.lower() == "tool":
            extra["tool_name"] = msg.get("name") or tool_name_of(messages, msg.get("tool_call_id"))
        if msg.get("reasoning"):
            extra["thinking"] = msg["reasoning"]
        if msg.get("tool_calls"):
            extra["tool_calls"] = native_calls(msg["tool_calls"])
        if msg.get("tool_call_id"):
            extra["tool_call_id"] = msg["tool_call_id"]
        if isinstance(content, str):
            converted.append({"role": role, "content": content, **_present(extra)})
        elif isinstance(content, list):
            converted += [part_message(role, part) for part in content]
            if converted and msg.get("tool_calls"):
                converted[-1].update(_present(extra))
        elif msg.get("tool_calls") is not None:
            converted.append({"role": role, "content": "", **_present(extra)})
        else:
            raise OllamaError(400, f"invalid message content type: {go_type_name(content)}")
    return converted


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v}


def stops(value: Any, strict: bool) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        return None
    if strict and any(not isinstance(s, str) for s in value):
        bad = next(s for s in value if not isinstance(s, str))
        raise OllamaError(400, f"invalid type for 'stop' field: {go_type_name(bad)}")
    return [s for s in value if isinstance(s, str)]


def common_options(body: dict[str, Any], *, strict_stop: bool) -> dict[str, Any]:
    options: dict[str, Any] = {}
    stop = stops(body.get("stop"), strict_stop)
    if stop is not None:
        options["stop"] = stop
    if body.get("max_tokens") is not None:
        options["num_predict"] = body["max_tokens"]
    temperature = body.get("temperature")
    options["temperature"] = 1.0 if temperature is None else temperature
    if body.get("seed") is not None:
        options["seed"] = body["seed"]
    return options


def chat_request(body: dict[str, Any]) -> dict[str, Any]:
    """openai.FromChatRequest: the native /api/chat body for an OpenAI chat request."""
    check_types(body, CHAT_FIELDS, "ChatCompletionRequest")
    if not body.get("messages"):
        raise OllamaError(400, "[] is too short - 'messages'")
    options = common_options(body, strict_stop=False)
    for name in ("frequency_penalty", "presence_penalty"):
        if body.get(name) is not None:
            options[name] = body[name]
    options["top_p"] = 1.0 if body.get("top_p") is None else body["top_p"]
    native: dict[str, Any] = {"model": body.get("model") or "", "stream": bool(body.get("stream"))}
    native["messages"] = native_messages(body["messages"])
    native["options"] = options
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        kind = str(response_format.get("type") or "").strip().lower()
        schema = (response_format.get("json_schema") or {}).get("schema")
        if kind == "json_object":
            native["format"] = "json"
        elif kind == "json_schema" and schema is not None:
            native["format"] = schema
    think = think_from(body)
    if think is not None:
        native["think"] = think
    if body.get("tools"):
        native["tools"] = body["tools"]
    return native


def completion_request(body: dict[str, Any]) -> dict[str, Any]:
    """openai.FromCompleteRequest: the native /api/generate body for an OpenAI completion."""
    check_types(body, COMPLETION_FIELDS, "CompletionRequest")
    options = common_options(body, strict_stop=True)
    options["frequency_penalty"] = body.get("frequency_penalty") or 0
    options["presence_penalty"] = body.get("presence_penalty") or 0
    options["top_p"] = body.get("top_p") or 1.0
    native = {"model": body.get("model") or "", "prompt": body.get("prompt") or ""}
    native.update(options=options, stream=bool(body.get("stream")))
    if body.get("suffix"):
        native["suffix"] = body["suffix"]
    return native


def include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


async def generation(request: web.Request, chat: bool) -> web.StreamResponse:
    """Convert, answer through the native handler, and rewrite in OpenAI's shape."""
    sim = simulator_of(request)
    record = sim.records.open(request.path, "")
    go_type = "openai.ChatCompletionRequest" if chat else "openai.CompletionRequest"
    try:
        body = await read_body(request, go_type)
        ask = read(chat_request(body) if chat else completion_request(body), chat)
    except OllamaError as e:
        record.end("rejected", e.status, e.message)
        return openai_error(e.status, e.message)
    describe(record, ask)
    skipped = ("messages", "model", "tools", "prompt")
    record.extras["openai"] = {k: v for k, v in body.items() if k not in skipped}
    number, usage = record.id % 999, include_usage(body)
    emitter: ChatChunks | CompletionChunks
    if chat:
        emitter = ChatChunks(number, ask.name, usage)
    else:
        emitter = CompletionChunks(number, ask.name, ask.stream, usage)
    return await serve(request, sim, record, ask, emitter)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions."""
    return await generation(request, chat=True)


async def completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/completions."""
    return await generation(request, chat=False)
