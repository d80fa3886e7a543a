"""OpenAI's messages, tools, images and reasoning effort as Ollama's, and Ollama's tool calls
as OpenAI's: what chat completions (openai.py) and the Responses API (responses.py) share.

A tool result names its tool (Ollama's `tool_name`, from the call its `tool_call_id` answers);
an assistant's tool calls carry their arguments as an object; `image_url` parts with data: URLs
become the message's `images` (the server fetches nothing); a field sent as null means its
default.
"""

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

from shared.errors import InvalidRequest

# OpenAI's reasoning_effort as Ollama's `think`: off, or a level (a model without levels
# takes any level as on).
THINK = {"none": False, "minimal": "low", "low": "low", "medium": "medium", "high": "high"}


def without_nulls(data: Any) -> Any:
    """A field sent as null means its default, as OpenAI reads it (LangChain, LiteLLM and the
    AI SDK send `"n": null`, `"stop": null`, ...)."""
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if v is not None}
    return data


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


def offered_tools(tools: list[dict[str, Any]] | None, choice: Any) -> list[dict[str, Any]]:
    """The tools Ollama is offered, in its shape (OpenAI's `{"type": "function", "function":
    {...}}` is Ollama's too). `tool_choice`: "auto" (the default) offers them all, "none" none;
    a named function offers only that one (Ollama cannot force a call: the model may still
    answer text); "required" cannot be honoured."""
    if choice in (None, "auto"):
        chosen = tools or []
    elif choice == "none":
        return []
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        chosen = [t for t in tools or [] if (t.get("function") or {}).get("name") == name]
        if not chosen:
            raise InvalidRequest(
                f"tool_choice: no tool named {name!r} in tools", details=[{"loc": ["tool_choice"]}]
            )
    else:
        raise InvalidRequest(
            f"tool_choice: {choice!r} is not supported (Ollama cannot be made to call a tool); "
            'use "auto", "none" or a named function',
            details=[{"loc": ["tool_choice"]}],
        )
    for tool in chosen:
        if tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            raise InvalidRequest(
                "tools: only function tools are supported", details=[{"loc": ["tools"]}]
            )
    return chosen


def ollama_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """OpenAI's messages as Ollama's: a tool result names its tool (Ollama's `tool_name`, from
    the call its `tool_call_id` answers); an assistant's tool calls carry their arguments as an
    object; image parts become the message's `images`."""
    names: dict[str, str] = {}
    out = []
    for message in messages:
        converted = _message(message)
        for call in converted.get("tool_calls", []):
            if call.get("id"):
                names[call["id"]] = call["function"]["name"]
        if converted["role"] == "tool":
            call_id = (message.model_extra or {}).get("tool_call_id")
            if call_id:
                converted["tool_call_id"] = call_id
                if call_id in names:
                    converted["tool_name"] = names[call_id]
        out.append(converted)
    return out


def _message(message: Message) -> dict[str, Any]:
    role = "system" if message.role == "developer" else message.role
    content = message.content
    images: list[str] = []
    if isinstance(content, list):
        texts = []
        for part in content:
            kind = part.get("type")
            if kind == "text":
                texts.append(str(part.get("text", "")))
            elif kind == "image_url":
                images.append(data_url_image(part.get("image_url")))
            else:
                raise InvalidRequest(
                    f"messages: content parts of type {kind!r} are not supported",
                    details=[{"loc": ["messages"]}],
                )
        content = "".join(texts)
    converted: dict[str, Any] = {"role": role, "content": content or ""}
    if images:
        converted["images"] = images
    calls = (message.model_extra or {}).get("tool_calls")
    if role == "assistant" and calls:
        converted["tool_calls"] = [_call_to_ollama(c) for c in calls]
    return converted


def data_url_image(image_url: Any) -> str:
    """The base64 data of an image_url part; the server fetches nothing, so only data: URLs."""
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str) or not url.startswith("data:"):
        raise InvalidRequest(
            "image_url: only data: URLs are accepted (data:image/png;base64,...); this server "
            "fetches nothing",
            details=[{"loc": ["messages"]}],
        )
    head, _, data = url.partition(",")
    if ";base64" not in head or not data:
        raise InvalidRequest("image_url: a base64 data: URL is required")
    return data


def _call_to_ollama(call: Any) -> dict[str, Any]:
    if not isinstance(call, dict):
        raise InvalidRequest("messages: a tool call must be an object")
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = orjson.loads(arguments or "{}")
        except orjson.JSONDecodeError:
            raise InvalidRequest(
                "messages: a tool call's arguments must be a JSON object"
            ) from None
    converted: dict[str, Any] = {
        "function": {"name": function.get("name"), "arguments": arguments or {}}
    }
    if call.get("id"):
        converted["id"] = call["id"]
    return converted


def openai_tool_calls(
    calls: list[dict[str, Any]], generation_id: str, first: int = 0
) -> list[dict[str, Any]]:
    """Ollama's tool calls in OpenAI's shape: an id (Ollama's, else one made from the
    generation id and the call's place, so that a replay names it the same), arguments as a
    JSON string."""
    out = []
    for i, call in enumerate(calls, start=first):
        function = call.get("function") or {}
        arguments = function.get("arguments", {})
        out.append(
            {
                "id": call.get("id") or f"call_{generation_id.replace('-', '')[:12]}_{i}",
                "type": "function",
                "function": {
                    "name": function.get("name"),
                    "arguments": (
                        arguments
                        if isinstance(arguments, str)
                        else orjson.dumps(arguments).decode()
                    ),
                },
            }
        )
    return out
