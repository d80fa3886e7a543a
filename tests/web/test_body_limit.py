"""MAX_BODY_BYTES: 413 in the dialect's own envelope, declared or found while reading, and
nothing queued or recorded."""

import asyncio
import contextlib

import pytest

from tests.web.routes.test_generate import assert_nothing_enqueued, count_rows

pytestmark = pytest.mark.e2e


async def test_body_over_the_limit_is_413(client, redis, sim, sessions):
    before = await count_rows(sessions)
    r = await client.post("/api/v1/generate", json={"prompt": "x" * 1_100_000})
    assert r.status_code == 413 and r.json()["error"]["type"] == "body_too_large"
    await assert_nothing_enqueued(redis, sim, sessions, before)


async def test_a_chunked_body_over_the_limit_is_413_too(client, redis, sim, sessions):
    before = await count_rows(sessions)

    async def body():  # no Content-Length: the limit is found while the body is read
        yield b'{"prompt": "'
        for _ in range(11):
            yield b"x" * 100_000
        yield b'"}'

    r = await client.post(
        "/api/v1/generate", content=body(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"]["type"] == "body_too_large"
    assert "MAX_BODY_BYTES" in r.json()["error"]["message"]
    await assert_nothing_enqueued(redis, sim, sessions, before)


async def test_the_refusal_speaks_the_routes_dialect(client):
    # Refused before routing (a declared Content-Length): the route the path would take says
    # how to answer.
    big = "x" * 1_100_000
    openai = await client.post("/v1/completions", json={"model": "m", "prompt": big})
    assert openai.status_code == 413
    assert openai.json()["error"]["code"] == "body_too_large"
    assert openai.json()["error"]["type"] == "invalid_request_error"
    ollama = await client.post("/api/embed", json={"model": "m", "input": big})
    assert ollama.status_code == 413 and isinstance(ollama.json()["error"], str)


async def test_a_route_that_takes_images_still_bounds_the_rest(client, redis, sim, sessions):
    # The bound of /api/chat is MAX_BODY_BYTES + MAX_IMAGE_BYTES, but only images may use the
    # difference: 1.1 MB of anything else is refused once the body is read, and nothing runs.
    before = await count_rows(sessions)
    messages = [{"role": "user", "content": "hi", "padding": "x" * 1_100_000}]
    r = await client.post("/api/chat", json={"model": "qwen3:8b", "messages": messages})
    assert r.status_code == 413 and "MAX_BODY_BYTES" in r.json()["error"]
    await assert_nothing_enqueued(redis, sim, sessions, before)


async def test_a_body_that_stops_arriving_is_408(guarded_stack):
    # HTTP_BODY_TIMEOUT_SECONDS=2 on this stack; the body comes a byte every half second.
    host, port = guarded_stack.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    master = guarded_stack.env["MASTER_API_KEY"].encode()
    writer.write(
        b"POST /api/v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + master + b"\r\nContent-Length: 1000\r\n\r\n"
    )
    started = asyncio.get_running_loop().time()

    async def dribble() -> None:
        with contextlib.suppress(OSError):
            for _ in range(100):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.5)

    sender = asyncio.create_task(dribble())
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    finally:
        sender.cancel()
        writer.close()
    assert head.startswith(b"HTTP/1.1 408"), head[:80]
    assert asyncio.get_running_loop().time() - started < 6
