"""One generation's delivery: the wait, the pace, the fault, and the record of how it ended.

A `Turn` plays a `Plan` (thinking chunks, answer tokens, tool calls) through an `Emitter`, which
knows one dialect's bytes: Ollama's NDJSON for /api/generate and /api/chat, OpenAI's SSE for
/v1/chat/completions and /v1/completions. The pace, the faults and the records are the same in
every dialect, so one prompt streams the same text at the same rate through each of them.
"""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from simulator.records import Record
from simulator.script import Script
from simulator.tools import call_tokens

BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"


@dataclass
class Plan:
    """What the model will say: thinking, then the answer's tokens, then its tool calls."""

    model: str  # as the request named it: every chunk echoes it
    script: Script
    thinking: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 1
    context: list[int] | None = None  # /api/generate's deprecated `context`, when not raw


@dataclass
class Result:
    """A finished (or cut) generation, for the final chunk or the whole answer."""

    text: str
    thinking: str
    tool_calls: list[dict[str, Any]]
    done_reason: str
    metrics: dict[str, int]
    context: list[int] | None = None


class Emitter(Protocol):
    """One dialect's bytes for the parts of an answer."""

    content_type: str

    def thinking(self, text: str) -> bytes: ...
    def token(self, text: str) -> bytes: ...
    def tool_call(self, call: dict[str, Any]) -> bytes: ...
    def final(self, result: Result) -> bytes: ...
    def error_line(self, message: str) -> bytes: ...
    def whole(self, result: Result) -> web.Response: ...
    def error(self, status: int, message: str) -> web.Response: ...


class Drop(Exception):
    """Close the connection without an answer (the "drop" fault on a whole answer)."""


class Slots:
    """Ollama's OLLAMA_NUM_PARALLEL and OLLAMA_MAX_QUEUE: who generates, who waits, who is busy."""

    def __init__(self, parallel: int, max_queue: int) -> None:
        self._semaphore = asyncio.Semaphore(parallel) if parallel else None
        self._max_queue = max_queue
        self._waiting = 0

    @property
    def full(self) -> bool:
        locked = self._semaphore is not None and self._semaphore.locked()
        return locked and self._waiting >= self._max_queue

    async def acquire(self) -> None:
        if self._semaphore is None:
            return
        self._waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self._waiting -= 1

    def release(self) -> None:
        if self._semaphore is not None:
            self._semaphore.release()


class Turn:
    """Plays one plan through one emitter, and records what was sent."""

    def __init__(self, plan: Plan, record: Record, emitter: Emitter, stream: bool) -> None:
        self.plan, self.record, self.emitter, self.stream = plan, record, emitter, stream
        self.t0 = time.monotonic()
        self.sent = 0  # tokens generated so far: thinking, answer and tool calls

    async def run(self, request: web.Request, slots: Slots) -> web.StreamResponse:
        """Wait for a slot, then answer; a client that leaves is recorded as such."""
        if slots.full:
            self.record.end("fault", 503, BUSY_MESSAGE)
            return self.emitter.error(503, BUSY_MESSAGE)
        try:
            await slots.acquire()
            try:
                if self.plan.script.ttft > 0:
                    await asyncio.sleep(self.plan.script.ttft)
                return await (self.streamed(request) if self.stream else self.whole())
            finally:
                slots.release()
        except (asyncio.CancelledError, ConnectionResetError):
            self.record.end("client_closed")
            raise

    async def pace(self, first: float) -> None:
        """Sleep until the next token is due (an absolute schedule, so rates do not drift)."""
        rate = self.plan.script.rate
        if rate > 0:
            delay = first + self.sent / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async def streamed(self, request: web.Request) -> web.StreamResponse:
        plan, record, script = self.plan, self.record, self.plan.script
        response = web.StreamResponse(headers={"Content-Type": self.emitter.content_type})
        await response.prepare(request)
        first = time.monotonic()
        for text in plan.thinking:
            await self.pace(first)
            await response.write(self.emitter.thinking(text))
            self.sent, record.thinking_sent = self.sent + 1, record.thinking_sent + 1
            record.thinking += text
        for i, token in enumerate(plan.tokens):
            if script.fault is not None and i == script.after:
                return await self.fault(request, response)
            await self.pace(first)
            await response.write(self.emitter.token(token))
            self.sent, record.tokens_sent = self.sent + 1, record.tokens_sent + 1
            record.text += token
        if script.fault is not None:
            return await self.fault(request, response)
        for call in plan.tool_calls:
            await self.pace(first)
            await response.write(self.emitter.tool_call(call))
            self.sent += call_tokens(call)
            record.tool_calls.append(call)
        await response.write(self.emitter.final(self.result(first)))
        await response.write_eof()
        record.end("completed")
        return response

    async def whole(self) -> web.StreamResponse:
        plan, record, script = self.plan, self.record, self.plan.script
        first = time.monotonic()
        count = len(plan.tokens) if script.fault is None else min(script.after, len(plan.tokens))
        calls = plan.tool_calls if script.fault is None else []
        self.sent = len(plan.thinking) + count + sum(call_tokens(c) for c in calls)
        await self.pace(first)
        if script.fault == "stall":
            await asyncio.Event().wait()
        if script.fault == "drop":
            record.end("fault")
            raise Drop()
        if script.fault is not None:  # "error_line": Ollama answers the error whole
            record.end("fault", 500, script.message)
            return self.emitter.error(500, script.message)
        record.thinking_sent, record.thinking = len(plan.thinking), "".join(plan.thinking)
        record.tokens_sent, record.text = count, "".join(plan.tokens[:count])
        record.tool_calls = list(calls)
        result = self.result(first)
        record.end("completed")
        return self.emitter.whole(result)

    def result(self, first: float) -> Result:
        """The statistics of the final chunk (durations in nanoseconds, as Ollama's)."""
        end = time.monotonic()
        self.record.done_reason = "stop"
        metrics = {
            "total_duration": max(1, int((end - self.t0) * 1e9)),
            "load_duration": max(1, int((first - self.t0) * 1e9)),
            "prompt_eval_count": self.plan.prompt_tokens,
            "prompt_eval_duration": 1_000_000,
            "eval_count": self.sent,
            "eval_duration": max(1, int((end - first) * 1e9)),
        }
        return Result(
            self.record.text,
            self.record.thinking,
            list(self.record.tool_calls),
            "stop",
            {k: v for k, v in metrics.items() if v},  # Ollama's Metrics are omitempty
            self.plan.context,
        )

    async def fault(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        script, record = self.plan.script, self.record
        if script.fault == "stall":
            await asyncio.Event().wait()  # until the client gives up
        record.end("fault")
        if script.fault == "error_line":
            record.error = script.message
            await response.write(self.emitter.error_line(script.message))
            await response.write_eof()
            return response
        # "drop": cut the connection mid-stream, without the final chunk of the chunked body.
        if request.transport is not None:
            request.transport.abort()
        return response
