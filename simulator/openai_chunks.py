"""Ollama's OpenAI-compatible answers: chat and completion chunks over SSE, whole objects, errors.

Shapes follow Ollama's openai/openai.go and middleware/openai.go: `data: {...}` events ended by
`data: [DONE]`; ids `chatcmpl-<n>` / `cmpl-<n>` (Ollama draws n below 999 at random; here it is
the request's record id modulo 999); `system_fingerprint: "fp_ollama"`; a chat stream's first
delta carries the role, thinking comes as `reasoning`, the finish reason has an empty delta of
its own, `tool_calls` replaces `stop` once a tool call was sent, and `stream_options.
include_usage` adds a usage chunk with no choices. A chat stream pins `created` to its first
chunk; a completion stream stamps each chunk. An error line in the middle of a native stream
reaches an OpenAI client the way Ollama's writer lets it through: as an empty chunk with an
empty `model`, after which the stream ends without `[DONE]`.
"""

import time
from typing import Any

from aiohttp import web

from simulator.tools import openai_calls
from simulator.turn import Result
from simulator.wire import go_json

EVENT_STREAM = "text/event-stream"
FINGERPRINT = "fp_ollama"
DONE = b"data: [DONE]\n\n"


def sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + go_json(obj) + b"\n\n"


def error_type(status: int) -> str:
    return {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")


def openai_error(status: int, message: str) -> web.Response:
    """Ollama's OpenAI error body (json.Encoder: with a trailing newline)."""
    error = {"message": message, "type": error_type(status), "param": None, "code": None}
    body = go_json({"error": error}) + b"\n"
    return web.Response(status=status, body=body, headers={"Content-Type": "application/json"})


def openai_json(obj: dict[str, Any]) -> web.Response:
    body = go_json(obj) + b"\n"
    return web.Response(body=body, headers={"Content-Type": "application/json"})


def usage(result: Result | None) -> dict[str, int]:
    prompt = result.metrics.get("prompt_eval_count", 0) if result else 0
    completion = result.metrics.get("eval_count", 0) if result else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class ChatChunks:
    """/v1/chat/completions: `chat.completion.chunk` events, or one `chat.completion`."""

    content_type = EVENT_STREAM

    def __init__(self, number: int, model: str, include_usage: bool) -> None:
        self.id, self.model, self.include_usage = f"chatcmpl-{number}", model, include_usage
        self.created: int | None = None
        self.role_sent = self.tool_call_sent = False

    def chunk(self, delta: dict[str, Any], finish: str | None = None, model: str | None = None):
        if self.created is None:
            self.created = int(time.time())
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model if model is None else model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def delta(self, content: str, reasoning: str = "", calls: list[Any] | None = None):
        delta: dict[str, Any] = {} if self.role_sent else {"role": "assistant"}
        self.role_sent = True
        delta["content"] = content  # Ollama keeps an empty content: "content": ""
        if reasoning:
            delta["reasoning"] = reasoning
        if calls:
            delta["tool_calls"] = calls
        return delta

    def thinking(self, text: str) -> bytes:
        return sse(self.chunk(self.delta("", text)))

    def token(self, text: str) -> bytes:
        return sse(self.chunk(self.delta(text)))

    def tool_call(self, call: dict[str, Any]) -> bytes:
        self.tool_call_sent = True
        return sse(self.chunk(self.delta("", calls=openai_calls([call]))))

    def finish_reason(self, result: Result) -> str:
        reason = result.done_reason or "stop"
        return "tool_calls" if reason == "stop" and self.tool_call_sent else reason

    def final(self, result: Result) -> bytes:
        # A wholly empty completion still opens with a role chunk, as Ollama's writer does.
        events = b"" if self.role_sent else sse(self.chunk(self.delta("")))
        finish = self.chunk({}, self.finish_reason(result))
        events += sse(finish)
        if self.include_usage:
            events += sse({**finish, "choices": [], "usage": usage(result)})
        return events + DONE

    def error_line(self, message: str) -> bytes:
        return sse(self.chunk(self.delta(""), model=""))

    def whole(self, result: Result) -> web.Response:
        self.tool_call_sent = bool(result.tool_calls)
        message: dict[str, Any] = {"role": "assistant", "content": result.text}
        if result.thinking:
            message["reasoning"] = result.thinking
        if result.tool_calls:
            message["tool_calls"] = openai_calls(result.tool_calls)
        choice = {"index": 0, "message": message, "finish_reason": self.finish_reason(result)}
        return openai_json(self.completion("chat.completion", choice, usage(result)))

    def completion(self, kind: str, choice: dict[str, Any], used: dict[str, int]):
        return {
            "id": self.id,
            "object": kind,
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [choice],
            "usage": used,
        }

    def error(self, status: int, message: str) -> web.Response:
        return openai_error(status, message)

    def instant(self, reason: str) -> web.Response:
        choice = {"index": 0, "message": {"role": "assistant", "content": ""}}
        return openai_json(
            self.completion("chat.completion", {**choice, "finish_reason": reason}, usage(None))
        )


class CompletionChunks:
    """/v1/completions: `text_completion` events (thinking dropped), or one whole object."""

    content_type = EVENT_STREAM

    def __init__(self, number: int, model: str, stream: bool, include_usage: bool) -> None:
        self.id, self.model, self.stream = f"cmpl-{number}", model, stream
        self.include_usage = stream and include_usage

    def chunk(self, text: str, finish: str | None = None, model: str | None = None):
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "text_completion",
            "created": int(time.time()),
            "choices": [{"text": text, "index": 0, "finish_reason": finish}],
            "model": self.model if model is None else model,
            "system_fingerprint": FINGERPRINT,
        }
        if self.include_usage:  # Ollama puts a zero usage in every chunk
            chunk["usage"] = usage(None)
        return chunk

    def thinking(self, text: str) -> bytes:
        return sse(self.chunk(""))

    def token(self, text: str) -> bytes:
        return sse(self.chunk(text))

    def tool_call(self, call: dict[str, Any]) -> bytes:
        raise NotImplementedError("/v1/completions takes no tools")

    def last(self, reason: str, result: Result | None) -> bytes:
        last = self.chunk("", reason)
        events = sse(last)
        if self.include_usage:
            events += sse({**last, "choices": [], "usage": usage(result)})
        return events + DONE

    def final(self, result: Result) -> bytes:
        return self.last(result.done_reason, result)

    def error_line(self, message: str) -> bytes:
        return sse(self.chunk("", model=""))

    def whole(self, result: Result) -> web.Response:
        choice = {"text": result.text, "index": 0, "finish_reason": result.done_reason}
        return openai_json(self.completion(choice, usage(result)))

    def completion(self, choice: dict[str, Any], used: dict[str, int]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [choice],
            "usage": used,
        }

    def error(self, status: int, message: str) -> web.Response:
        return openai_error(status, message)

    def instant(self, reason: str) -> web.Response:
        if self.stream:
            body = self.last(reason, None)
            return web.Response(body=body, headers={"Content-Type": EVENT_STREAM})
        return openai_json(
            self.completion({"text": "", "index": 0, "finish_reason": reason}, usage(None))
        )
