"""Generation requests decoded as Ollama's Go types decode them (api.GenerateRequest,
api.ChatRequest): a field of the wrong JSON kind, a `think` that is not a level, a `keep_alive`
that is not a duration, an image that is not base64, each fails the request with Go's 400 text.
"""

from dataclasses import dataclass, field
from typing import Any

from simulator.images import decode_images
from simulator.wire import OllamaError, go_float, go_quote, json_kind, keep_alive_seconds

LEVELS = ("high", "medium", "low", "max")
COMMON = {
    "model": "string",
    "stream": "bool",
    "truncate": "bool",
    "shift": "bool",
    "logprobs": "bool",
    "top_logprobs": "int",
    "options": "map[string]interface {}",
}
GENERATE_FIELDS = {
    **COMMON,
    **{"prompt": "string", "suffix": "string", "system": "string", "template": "string"},
    **{"raw": "bool", "context": "[]int"},
}
CHAT_FIELDS = {**COMMON, "messages": "[]api.Message", "tools": "api.Tools"}
MESSAGE_FIELDS = {
    **{"role": "string", "content": "string", "thinking": "string", "tool_name": "string"},
    **{"tool_call_id": "string", "tool_calls": "[]api.ToolCall"},
}
PYTHON_TYPES = {"string": str, "bool": bool, "int": int, "map[string]interface {}": dict}


@dataclass
class Ask:
    """A generation request, decoded: what Ollama's handler works from."""

    chat: bool
    body: dict[str, Any]
    name: str  # the model as the request named it
    stream: bool
    options: dict[str, Any]
    think: bool | str | None
    keep_alive: float | None
    prompt: str  # chat: the last user message's content
    images: list[bytes] = field(default_factory=list)  # all of them, in order
    messages: list[dict[str, Any]] = field(default_factory=list)
    message_images: list[list[bytes]] = field(default_factory=list)  # each message's
    tools: list[Any] = field(default_factory=list)


def check_types(obj: dict[str, Any], fields: dict[str, str], struct: str) -> None:
    """Go's UnmarshalTypeError for a field of the wrong JSON kind (null is always fine)."""
    for key, go_type in fields.items():
        value = obj.get(key)
        want = PYTHON_TYPES.get(go_type, list)
        fits = isinstance(value, want) and not (want is int and isinstance(value, bool))
        if value is None or fits:
            continue
        kind = json_kind(value)
        if want is int and isinstance(value, float):
            kind = f"number {go_float(value)}"  # Go names the number it cannot fit
        message = f"json: cannot unmarshal {kind} into Go struct field {struct}.{key}"
        raise OllamaError(400, f"{message} of type {go_type}")


def read_think(value: Any) -> bool | str | None:
    """Ollama's api.ThinkValue: a boolean or a level."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value not in LEVELS:
            raise OllamaError(
                400,
                f"invalid think value: {go_quote(value)} "
                '(must be "high", "medium", "low", "max", true, or false)',
            )
        return value
    raise OllamaError(
        400, 'think must be a boolean or string ("high", "medium", "low", "max", true, or false)'
    )


def read_keep_alive(body: dict[str, Any]) -> float | None:
    """`keep_alive` in seconds (None when absent), or Go's error for a bad duration."""
    try:
        alive = body.get("keep_alive")
        return None if alive is None else keep_alive_seconds(alive)
    except ValueError as e:
        raise OllamaError(400, str(e)) from None


def read_messages(value: list[Any]) -> tuple[list[dict[str, Any]], list[list[bytes]]]:
    """Chat messages (roles lowercased, as Ollama's Message.UnmarshalJSON does) and their images."""
    messages, images = [], []
    for item in value:
        if not isinstance(item, dict):
            kind = json_kind(item)
            raise OllamaError(
                400,
                f"json: cannot unmarshal {kind} into Go struct field ChatRequest.messages "
                "of type api.Message",
            )
        check_types(item, MESSAGE_FIELDS, "ChatRequest.messages")
        images.append(decode_images(item.get("images"), "ChatRequest.messages.images"))
        messages.append({**item, "role": str(item.get("role") or "").lower()})
    return messages, images


def read(body: dict[str, Any], chat: bool) -> Ask:
    """Decode a generation request's body as Go's encoding/json and Ollama's types do."""
    if chat:
        check_types(body, CHAT_FIELDS, "ChatRequest")
    else:
        check_types(body, GENERATE_FIELDS, "GenerateRequest")
    think, keep_alive = read_think(body.get("think")), read_keep_alive(body)
    ask = Ask(
        chat=chat,
        body=body,
        name=str(body.get("model") or ""),
        stream=body.get("stream") is not False,
        options=body.get("options") or {},
        think=think,
        keep_alive=keep_alive,
        prompt=str(body.get("prompt") or ""),
    )
    if chat:
        ask.messages, ask.message_images = read_messages(body.get("messages") or [])
        ask.images = [image for images in ask.message_images for image in images]
        users = [m for m in ask.messages if m["role"] == "user" and m.get("content")]
        ask.prompt = str(users[-1]["content"]) if users else ""
        ask.tools = list(body.get("tools") or [])
    else:
        ask.images = decode_images(body.get("images"), "GenerateRequest.images")
    if not 0 <= int(body.get("top_logprobs") or 0) <= 20:
        raise OllamaError(400, "top_logprobs must be between 0 and 20")
    return ask
