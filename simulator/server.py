"""An Ollama simulator: Ollama's HTTP protocol with a configurable token rate and faults on demand.

A test instrument, faithful to the protocol (field names, NDJSON framing, status codes and error
texts as Ollama sends them), not to our own client. It records how every generation ended, so a
test can prove that a cancelled request closed its stream.
"""

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from simulator.script import Script, build_script

VERSION = "0.12.6-sim"
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"


@dataclass
class SimConfig:
    models: list[str] = field(default_factory=lambda: ["qwen3:8b"])
    tokens: int = 20
    rate: float = 0.0
    ttft: float = 0.0
    parallel: int = 0  # like OLLAMA_NUM_PARALLEL; 0 = unlimited
    max_queue: int = 512  # like OLLAMA_MAX_QUEUE
    record_limit: int = 10_000


@dataclass
class Record:
    id: int
    path: str
    model: str
    prompt: str
    stream: bool
    options: dict[str, Any]
    started: float
    extras: dict[str, Any] = field(default_factory=dict)  # format, think, system, ...
    tokens_sent: int = 0
    text: str = ""
    outcome: str = "running"  # running | completed | client_closed | fault
    ended: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# Ollama's Go encoder escapes these inside strings; a faithful peer sends what Ollama sends.
GO_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def go_json(obj: Any) -> bytes:
    """JSON as Go's encoding/json writes it (HTML-safe escapes; other text raw UTF-8)."""
    data = orjson.dumps(obj)
    for raw, escaped in GO_ESCAPES:
        if raw in data:
            data = data.replace(raw, escaped)
    return data


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Simulator:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.models = {self._tag(m) for m in config.models}
        self.records: deque[Record] = deque(maxlen=config.record_limit)
        self._ids = itertools.count(1)
        self._fault_counts: dict[str, int] = {}
        self._slots = asyncio.Semaphore(config.parallel) if config.parallel else None
        self._waiting = 0

    @staticmethod
    def _tag(model: str) -> str:
        return model if ":" in model else model + ":latest"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.add_routes(
            [
                web.get("/", self.root),
                web.get("/api/version", self.version),
                web.get("/api/tags", self.tags),
                web.get("/api/ps", self.ps),
                web.post("/api/show", self.show),
                web.post("/api/pull", self.pull),
                web.post("/api/generate", self.generate),
                web.post("/api/chat", self.generate),
                web.get("/sim/requests", self.list_records),
                web.delete("/sim/requests", self.clear_records),
                web.post("/sim/config", self.set_config),
            ]
        )
        return app

    async def root(self, request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": VERSION})

    def _model_entry(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": "2026-01-01T00:00:00Z",
            "size": 5_200_000_000,
            "digest": "0" * 64,
            "details": {
                "format": "gguf",
                "family": "simulated",
                "parameter_size": "8B",
                "quantization_level": "Q4_K_M",
            },
        }

    async def tags(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [self._model_entry(m) for m in sorted(self.models)]})

    async def ps(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [self._model_entry(m) for m in sorted(self.models)]})

    async def show(self, request: web.Request) -> web.Response:
        body = await request.json()
        name = self._tag(str(body.get("model") or body.get("name") or ""))
        if name not in self.models:
            return web.json_response({"error": f"model '{name}' not found"}, status=404)
        return web.json_response(
            {
                "modelfile": f"FROM {name}",
                "parameters": "",
                "template": "{{ .Prompt }}",
                "details": self._model_entry(name)["details"],
                "model_info": {},
                "capabilities": ["completion"],
            }
        )

    async def pull(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.models.add(self._tag(str(body.get("model") or body.get("name") or "")))
        statuses = [{"status": "pulling manifest"}, {"status": "success"}]
        if body.get("stream", True) is False:
            return web.json_response(statuses[-1])
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for status in statuses:
            await response.write(orjson.dumps(status) + b"\n")
        await response.write_eof()
        return response

    async def list_records(self, request: web.Request) -> web.Response:
        return web.json_response([r.as_dict() for r in self.records], dumps=_dumps)

    async def clear_records(self, request: web.Request) -> web.Response:
        self.records.clear()
        self._fault_counts.clear()
        return web.json_response({"cleared": True})

    async def set_config(self, request: web.Request) -> web.Response:
        body = await request.json()
        for name in ("tokens", "rate", "ttft"):
            if name in body:
                setattr(self.config, name, type(getattr(self.config, name))(body[name]))
        return web.json_response({k: getattr(self.config, k) for k in ("tokens", "rate", "ttft")})

    def _prompt_of(self, body: dict[str, Any], chat: bool) -> str:
        if not chat:
            return str(body.get("prompt") or "")
        users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
        return str(users[-1].get("content") or "") if users else ""

    def _fault_applies(self, script: Script) -> bool:
        if script.fault is None:
            return False
        if script.times is None:
            return True
        key = script.key or ""
        seen = self._fault_counts.get(key, 0)
        self._fault_counts[key] = seen + 1
        return seen < int(script.times)

    async def generate(self, request: web.Request) -> web.StreamResponse:
        chat = request.path == "/api/chat"
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "invalid JSON body"}, status=400)
        model = self._tag(str(body.get("model") or ""))
        if not body.get("model"):
            return web.json_response({"error": "model is required"}, status=400)
        if model not in self.models:
            message = f'model "{body["model"]}" not found, try pulling it first'
            return web.json_response({"error": message}, status=404)
        prompt = self._prompt_of(body, chat)
        options = body.get("options") or {}
        try:
            script = build_script(
                prompt,
                options,
                default_tokens=self.config.tokens,
                default_rate=self.config.rate,
                default_ttft=self.config.ttft,
            )
        except ValueError as e:
            return web.json_response({"error": f"simulator directive: {e}"}, status=400)
        if not self._fault_applies(script):
            script.fault = None
        stream = body.get("stream", True) is not False
        record = Record(next(self._ids), request.path, model, prompt, stream, options, time.time())
        record.extras = {
            k: body[k]
            for k in ("format", "think", "system", "keep_alive", "suffix", "raw")
            if k in body
        }
        if chat:
            record.extras["messages"] = body.get("messages")
        self.records.append(record)
        if script.fault == "status":
            record.outcome, record.ended = "fault", time.time()
            return web.json_response({"error": script.message}, status=script.status)
        busy = self._slots is not None and self._slots.locked()
        if busy and self._waiting >= self.config.max_queue:
            record.outcome, record.ended = "fault", time.time()
            return web.json_response({"error": BUSY_MESSAGE}, status=503)
        turn = _Turn(self, record, script, body["model"], chat, stream)
        try:
            if self._slots is None:
                return await turn.run(request)
            self._waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self._waiting -= 1
            try:
                return await turn.run(request)
            finally:
                self._slots.release()
        except (asyncio.CancelledError, ConnectionResetError):
            record.outcome, record.ended = "client_closed", time.time()
            raise


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


class _Turn:
    """One generation: paces tokens, injects the fault, writes Ollama's lines."""

    def __init__(
        self, sim: Simulator, record: Record, script: Script, model: str, chat: bool, stream: bool
    ) -> None:
        self.sim, self.record, self.script = sim, record, script
        self.model, self.chat, self.stream = model, chat, stream
        self.t0 = time.monotonic()

    def line(self, text: str, *, thinking: str | None = None) -> dict[str, Any]:
        obj: dict[str, Any] = {"model": self.model, "created_at": _now_iso()}
        if self.chat:
            message = {"role": "assistant", "content": text}
            if thinking is not None:
                message["thinking"] = thinking
            obj["message"] = message
        else:
            obj["response"] = text
            if thinking is not None:
                obj["thinking"] = thinking
        obj["done"] = False
        return obj

    def final(self, first_token: float | None) -> dict[str, Any]:
        end = time.monotonic()
        obj = self.line("")
        load = (first_token or end) - self.t0
        obj.update(
            done=True,
            done_reason="stop" if self.script.fault is None else "length",
            total_duration=int((end - self.t0) * 1e9),
            load_duration=int(load * 1e9),
            prompt_eval_count=max(1, len(self.record.prompt.split())),
            prompt_eval_duration=1_000_000,
            eval_count=self.record.tokens_sent,
            eval_duration=int((end - (first_token or end)) * 1e9),
        )
        return obj

    async def pace(self, index: int, first: float) -> None:
        """Sleep until token `index` is due (absolute schedule, so rates do not drift)."""
        if self.script.rate > 0:
            delay = first + index / self.script.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async def run(self, request: web.Request) -> web.StreamResponse:
        script, record = self.script, self.record
        if script.ttft > 0:
            await asyncio.sleep(script.ttft)
        if not self.stream:
            return await self.run_whole()
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        first = time.monotonic()
        for i in range(script.think):
            await self.pace(i, first)
            await response.write(go_json(self.line("", thinking=f"thought {i} ")) + b"\n")
        for i, token in enumerate(script.tokens):
            if script.fault is not None and i == script.after:
                return await self.fault(request, response)
            await self.pace(script.think + i, first)
            await response.write(go_json(self.line(token)) + b"\n")
            record.tokens_sent += 1
            record.text += token
        if script.fault is not None:
            return await self.fault(request, response)
        await response.write(go_json(self.final(first)) + b"\n")
        await response.write_eof()
        record.outcome, record.ended = "completed", time.time()
        return response

    async def run_whole(self) -> web.StreamResponse:
        script, record = self.script, self.record
        first = time.monotonic()
        count = len(script.tokens) if script.fault is None else script.after
        await self.pace(script.think + count, first)
        if script.fault == "stall":
            await asyncio.Event().wait()
        if script.fault == "drop":
            raise _Drop()
        if script.fault == "error_line":
            record.outcome, record.ended = "fault", time.time()
            return web.json_response({"error": script.message}, status=500)
        record.tokens_sent = count
        record.text = "".join(script.tokens[:count])
        obj = self.final(first)
        if self.chat:
            obj["message"]["content"] = record.text
        else:
            obj["response"] = record.text
        record.outcome, record.ended = "completed", time.time()
        return web.Response(body=go_json(obj), content_type="application/json")

    async def fault(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        record = self.record
        if self.script.fault == "stall":
            await asyncio.Event().wait()  # until the client gives up
        record.outcome, record.ended = "fault", time.time()
        if self.script.fault == "error_line":
            await response.write(go_json({"error": self.script.message}) + b"\n")
            await response.write_eof()
            return response
        # "drop": cut the connection mid-stream, without the final chunk of the chunked body.
        if request.transport is not None:
            request.transport.abort()
        return response


class _Drop(Exception):
    """Close the connection without an answer."""


@web.middleware
async def _drop_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except _Drop:
        if request.transport is not None:
            request.transport.abort()
        raise web.HTTPInternalServerError() from None


def create_app(config: SimConfig) -> web.Application:
    sim = Simulator(config)
    app = sim.app()
    app.middlewares.append(_drop_middleware)
    app["simulator"] = sim
    return app
