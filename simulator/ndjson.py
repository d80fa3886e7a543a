"""Ollama's own answers to /api/generate and /api/chat: NDJSON lines, whole objects, load lines.

Field order and omissions follow Ollama's Go structs (api.GenerateResponse, api.ChatResponse):
`thinking`, `tool_calls`, `done_reason`, `context` and the statistics are omitted when empty;
`response` and `message.content` never are. A streamed tool call comes in a line of its own
(`done: false`, empty content) before the final line, as Ollama's parsers emit a call once it is
complete; a whole answer carries every call in its message.
"""

from typing import Any

from aiohttp import web

from simulator.turn import Result
from simulator.wire import NDJSON_TYPE, error_response, go_json, go_time, json_response


class GenerateLines:
    """/api/generate: `response` and `thinking` fields, `context` in the final line."""

    content_type = NDJSON_TYPE

    def __init__(self, model: str) -> None:
        self.model = model

    def line(self, text: str, thinking: str = "") -> dict[str, Any]:
        obj: dict[str, Any] = {"model": self.model, "created_at": go_time(), "response": text}
        if thinking:
            obj["thinking"] = thinking
        obj["done"] = False
        return obj

    def thinking(self, text: str) -> bytes:
        return go_json(self.line("", text)) + b"\n"

    def token(self, text: str) -> bytes:
        return go_json(self.line(text)) + b"\n"

    def tool_call(self, call: dict[str, Any]) -> bytes:
        raise NotImplementedError("/api/generate takes no tools")

    def last(self, result: Result, text: str, thinking: str) -> dict[str, Any]:
        obj = self.line(text, thinking)
        obj.update(done=True, done_reason=result.done_reason)
        if result.context is not None:
            obj["context"] = result.context
        obj.update(result.metrics)
        return obj

    def final(self, result: Result) -> bytes:
        return go_json(self.last(result, "", "")) + b"\n"

    def error_line(self, message: str) -> bytes:
        return go_json({"error": message}) + b"\n"

    def whole(self, result: Result) -> web.Response:
        return json_response(self.last(result, result.text, result.thinking))

    def error(self, status: int, message: str) -> web.Response:
        return error_response(status, message)

    def instant(self, reason: str) -> web.Response:
        """The answer to a load (empty prompt) or an unload (and keep_alive 0)."""
        obj = {"model": self.model, "created_at": go_time(), "response": "", "done": True}
        return json_response({**obj, "done_reason": reason})


class ChatLines:
    """/api/chat: an assistant `message` in every line."""

    content_type = NDJSON_TYPE

    def __init__(self, model: str) -> None:
        self.model = model

    def line(self, message: dict[str, Any], done: bool = False) -> dict[str, Any]:
        return {"model": self.model, "created_at": go_time(), "message": message, "done": done}

    @staticmethod
    def message(text: str, thinking: str = "", calls: list[Any] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if thinking:
            message["thinking"] = thinking
        if calls:
            message["tool_calls"] = calls
        return message

    def thinking(self, text: str) -> bytes:
        return go_json(self.line(self.message("", text))) + b"\n"

    def token(self, text: str) -> bytes:
        return go_json(self.line(self.message(text))) + b"\n"

    def tool_call(self, call: dict[str, Any]) -> bytes:
        return go_json(self.line(self.message("", "", [call]))) + b"\n"

    def last(self, result: Result, message: dict[str, Any]) -> dict[str, Any]:
        obj = self.line(message, done=True)
        obj["done_reason"] = result.done_reason
        obj.update(result.metrics)
        return obj

    def final(self, result: Result) -> bytes:
        return go_json(self.last(result, self.message(""))) + b"\n"

    def error_line(self, message: str) -> bytes:
        return go_json({"error": message}) + b"\n"

    def whole(self, result: Result) -> web.Response:
        message = self.message(result.text, result.thinking, result.tool_calls)
        return json_response(self.last(result, message))

    def error(self, status: int, message: str) -> web.Response:
        return error_response(status, message)

    def instant(self, reason: str) -> web.Response:
        obj = self.line(self.message(""), done=True)
        return json_response({**obj, "done_reason": reason})
