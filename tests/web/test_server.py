"""`python -m web` bounds what uvicorn does not: request headers that never finish, and the
number of open connections. (The guarded stack: HTTP_HEADER_TIMEOUT_SECONDS=1,
MAX_CONNECTIONS=64.)"""

import asyncio
import contextlib
import time

import httpx
import psutil
import pytest

from tests.conftest import AUTH

pytestmark = pytest.mark.e2e


def _address(stack) -> tuple[str, int]:
    host, port = stack.url.removeprefix("http://").split(":")
    return host, int(port)


async def test_headers_that_never_finish_are_answered_408_and_closed(guarded_stack):
    reader, writer = await asyncio.open_connection(*_address(guarded_stack))
    writer.write(b"POST /api/v1/generate HTTP/1.1\r\nHost: x\r\n")  # and nothing more
    await writer.drain()
    started = time.monotonic()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert time.monotonic() - started < 5, "within the header bound (1 s here), not never"
    writer.close()


async def test_a_flood_of_idle_connections_is_refused_beyond_the_cap(guarded_stack):
    address = _address(guarded_stack)
    held = [await asyncio.open_connection(*address) for _ in range(70)]
    try:
        # The ones beyond MAX_CONNECTIONS=64 were answered 503 and closed at once.
        answers = await asyncio.gather(
            *(asyncio.wait_for(r.read(200), 0.5) for r, _ in held[64:]), return_exceptions=True
        )
        assert any(isinstance(a, bytes) and a.startswith(b"HTTP/1.1 503") for a in answers)
    finally:
        for _, writer in held:
            writer.close()
    await asyncio.sleep(0.2)
    async with httpx.AsyncClient(base_url=guarded_stack.url, timeout=5) as http:
        assert (await http.get("/healthz")).status_code == 200, "and the API still answers"


async def test_slowloris_connections_are_let_go_and_the_api_answers(guarded_stack):
    address = _address(guarded_stack)
    held = []
    for _ in range(40):
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        held.append((reader, writer))
    answers = await asyncio.wait_for(
        asyncio.gather(*(r.read() for r, _ in held)), timeout=15
    )  # each closed by the header bound
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers)
    for _, writer in held:
        writer.close()
    async with httpx.AsyncClient(base_url=guarded_stack.url, headers=AUTH, timeout=5) as http:
        assert (await http.get("/healthz")).status_code == 200


async def test_unauthenticated_large_bodies_cost_no_memory(guarded_stack):
    """200 requests without a key, each announcing and sending 1 MB: each is answered at once
    from its headers (401, then 429), and the API's memory stays where it was."""
    api = psutil.Process(guarded_stack.api.pid)
    before = api.memory_info().rss
    head = (
        b"POST /api/v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\n\r\n"
    )

    async def one() -> bytes:
        # An address of its own: its failures must not lock out the other tests' 127.0.0.1.
        reader, writer = await asyncio.open_connection(
            *_address(guarded_stack), local_addr=("127.0.0.5", 0)
        )
        try:
            with contextlib.suppress(OSError):
                writer.write(head + b"x" * 1_000_000)
                await writer.drain()
            try:
                return await asyncio.wait_for(reader.read(12), 10)
            except OSError:
                return b"closed"  # answered and closed while the body was still going out
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    answers = await asyncio.gather(*(one() for _ in range(200)))
    assert {a[:12] for a in answers} <= {b"HTTP/1.1 401", b"HTTP/1.1 429", b"closed"}
    assert b"HTTP/1.1 401" in answers
    grown = (api.memory_info().rss - before) / 2**20
    assert grown < 60, f"the API grew by {grown:.0f} MiB for bodies it never read"
