"""Responses API input items as Ollama's chat messages.

    {"role": "user" | "system" | "developer" | "assistant", "content": str | [parts]}
        a message; parts: input_text, output_text, refusal (text), input_image (a data: URL;
        the server fetches nothing)
    {"type": "reasoning", "summary": [...], "content": [...]}     the assistant's `thinking`
    {"type": "function_call", "call_id", "name", "arguments"}     an assistant's tool call
    {"type": "function_call_output", "call_id", "output"}         a `tool` message, named after
                                                                  the call it answers

A reasoning item, an assistant message and the function calls that follow it are one turn of
the assistant in OpenAI's items, and one assistant message in Ollama's: they are gathered into
one. Anything else (other tools' calls, files) is refused with 400, naming `input`. An
`item_reference` is replaced by the item it names before it comes here.
"""

from typing import Any, NoReturn

import orjson

from shared.errors import InvalidRequest
from web.dialects.openai_messages import data_url_image

TEXT_PARTS = frozenset({"input_text", "output_text", "text"})


def _refuse(why: str) -> NoReturn:
    raise InvalidRequest(f"input: {why}", details=[{"loc": ["input"]}])


class Conversation:
    """Ollama's messages, built item by item after `history` (messages already in Ollama's
    shape, such as a previous response's conversation)."""

    def __init__(self, history: list[dict[str, Any]] | None = None) -> None:
        self.messages: list[dict[str, Any]] = [dict(m) for m in history or []]
        # Tool call id -> tool name: a tool result is named after the call it answers.
        self._names = {
            call["id"]: (call.get("function") or {}).get("name")
            for message in self.messages
            for call in message.get("tool_calls") or []
            if isinstance(call, dict) and call.get("id")
        }

    def add(self, item: dict[str, Any]) -> None:
        kind = item.get("type", "message")
        if kind == "message":
            self._message(item)
        elif kind == "reasoning":
            self._reasoning(item)
        elif kind == "function_call":
            self._call(item)
        elif kind == "function_call_output":
            self._output(item)
        else:
            _refuse(f"items of type {kind!r} are not supported")

    def _message(self, item: dict[str, Any]) -> None:
        role = item.get("role")
        if role not in ("user", "system", "developer", "assistant"):
            _refuse(f"a message's role must be user, system, developer or assistant, not {role!r}")
        text, images = _content(item.get("content"))
        if role == "assistant":
            self._assistant("content").update(content=text)
            return
        message: dict[str, Any] = {
            "role": "system" if role == "developer" else role,
            "content": text,
        }
        if images:
            message["images"] = images
        self.messages.append(message)

    def _reasoning(self, item: dict[str, Any]) -> None:
        parts = item.get("content") or item.get("summary") or []
        text = "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
        if text:
            self._assistant("thinking")["thinking"] = text

    def _call(self, item: dict[str, Any]) -> None:
        call_id, name = item.get("call_id"), item.get("name")
        if not isinstance(call_id, str) or not isinstance(name, str):
            _refuse("a function_call needs its call_id and name")
        try:
            arguments = orjson.loads(item.get("arguments") or "{}")
        except (orjson.JSONDecodeError, TypeError):
            _refuse(f"function_call {call_id}: arguments must be a JSON object")
        if not isinstance(arguments, dict):
            _refuse(f"function_call {call_id}: arguments must be a JSON object")
        message = self._assistant("tool_calls")
        message.setdefault("tool_calls", []).append(
            {"id": call_id, "function": {"name": name, "arguments": arguments}}
        )
        self._names[call_id] = name

    def _output(self, item: dict[str, Any]) -> None:
        call_id, output = item.get("call_id"), item.get("output")
        if isinstance(output, list):
            parts = [p for p in output if isinstance(p, dict)]
            if any(p.get("type") not in TEXT_PARTS for p in parts):
                _refuse("a function_call_output may only hold text")
            output = "".join(str(p.get("text", "")) for p in parts)
        if not isinstance(call_id, str) or not isinstance(output, str):
            _refuse("a function_call_output needs its call_id and a text output")
        message: dict[str, Any] = {"role": "tool", "content": output, "tool_call_id": call_id}
        if self._names.get(call_id):
            message["tool_name"] = self._names[call_id]
        self.messages.append(message)

    def _assistant(self, part: str) -> dict[str, Any]:
        """The assistant message that takes `part` (thinking, content or tool_calls): the last
        one, if it has nothing that comes after that part yet; else a new one."""
        later = {
            "thinking": ("thinking", "content", "tool_calls"),
            "content": ("content", "tool_calls"),
            "tool_calls": (),
        }[part]
        last = self.messages[-1] if self.messages else None
        if last is None or last.get("role") != "assistant" or any(last.get(k) for k in later):
            last = {"role": "assistant", "content": ""}
            self.messages.append(last)
        return last


def _content(content: Any) -> tuple[str, list[str]]:
    """A message's text and images (base64)."""
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        _refuse("a message's content must be a string or a list of parts")
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in TEXT_PARTS:
            texts.append(str(part.get("text", "")))
        elif kind == "refusal":
            texts.append(str(part.get("refusal", "")))
        elif kind == "input_image":
            images.append(_image(part))
        else:
            _refuse(f"content parts of type {kind!r} are not supported")
    return "".join(texts), images


def _image(part: dict[str, Any]) -> str:
    url = part.get("image_url")
    if not isinstance(url, str) or not url.startswith("data:"):
        _refuse(
            "input_image: only image_url with a data: URL (data:image/png;base64,...) is "
            "accepted; this server fetches nothing and keeps no files"
        )
    return data_url_image(url)
