"""Small helpers the end-to-end tests share."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson

from shared.models import Generation
from tests import sse

# A function tool, in OpenAI's shape (Ollama's too); the simulator calls it with {"city": "sim"}.
WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def directive(**fields: object) -> str:
    """A prompt first line that steers the simulator (see simulator/script.py)."""
    return "SIM: " + orjson.dumps(fields).decode() + "\n"


def unique(text: str = "prompt") -> str:
    return f"{text} {uuid.uuid4()}"


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Poll `check` until it returns something truthy; the last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def record(sessions, generation_id: str) -> Generation | None:
    async with sessions() as session:
        return await session.get(Generation, uuid.UUID(generation_id))


async def final_record(sessions, generation_id: str, timeout: float = 15.0) -> Generation:
    async def check() -> Generation | None:
        row = await record(sessions, generation_id)
        return row if row is not None and row.status not in ("queued", "running") else None

    row = await eventually(check, timeout)
    assert row is not None, f"generation {generation_id} did not end in {timeout}s"
    return row


async def sim_records(sim: httpx.AsyncClient, prompt: str) -> list[dict]:
    return [r for r in (await sim.get("/sim/requests")).json() if r["prompt"] == prompt]


async def sim_outcome(sim: httpx.AsyncClient, prompt: str, timeout: float = 10.0) -> dict:
    async def check() -> dict | None:
        records = await sim_records(sim, prompt)
        return records[0] if records and records[0]["outcome"] != "running" else None

    found = await eventually(check, timeout)
    assert found, f"the simulator never finished a request for {prompt!r}"
    return found


class OpenStream:
    """A streaming request read event by event, which the test can drop at any moment."""

    def __init__(self, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> None:
        self._cm = client.stream(method, url, **kwargs)
        self.response: httpx.Response | None = None
        self.raw = ""
        self._lines: Any = None
        self._closed = False

    async def __aenter__(self) -> "OpenStream":
        self.response = await self._cm.__aenter__()
        self._lines = self.response.aiter_lines()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def generation_id(self) -> str:
        assert self.response is not None
        return self.response.headers["x-generation-id"]

    async def events(self, n: int) -> list[sse.SSEEvent]:
        """Read until `n` data events have arrived (comments are kept in `raw`)."""
        while len(sse.parse(self.raw).events) < n:
            self.raw += await anext(self._lines) + "\n"
        return sse.parse(self.raw).events

    async def rest(self) -> sse.SSEStream:
        async for line in self._lines:
            self.raw += line + "\n"
        return sse.parse(self.raw)

    async def close(self) -> None:
        """Drop the connection, as a client that goes away does."""
        if not self._closed:
            self._closed = True
            await self._cm.__aexit__(None, None, None)


class SilentServer:
    """A server that accepts connections and never answers (a hung Ollama or PostgreSQL).

    Every connection it accepted is closed when the block ends, including one accepted as it
    ends, so that none is left for the garbage collector to warn about in a later test.
    """

    def __init__(self) -> None:
        self.held: list[asyncio.StreamWriter] = []
        self._closing = False
        self._server: asyncio.Server | None = None
        self.port = 0

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.held.append(writer)
        try:
            if not self._closing:
                await reader.read()  # until the client gives up and closes
        finally:
            writer.close()

    async def __aenter__(self) -> "SilentServer":
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        assert self._server is not None
        self._server.close()
        for writer in self.held:
            writer.close()
        await asyncio.sleep(0.1)  # let the handlers see their end
