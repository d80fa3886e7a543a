"""The auth gate and the key cache: a missing or bad key is answered from the headers alone,
failures are rate-limited per address, and made-up keys cost bounded memory."""

import asyncio

import httpx
import pytest

from shared.config import Settings
from tests.conftest import AUTH
from web.auth import Authenticator

pytestmark = pytest.mark.e2e


def _client(stack, address: str, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=stack.url,
        headers=headers,
        timeout=10,
        transport=httpx.AsyncHTTPTransport(local_address=address),
    )


async def test_a_request_without_a_key_is_401_before_its_body_is_read(guarded_stack):
    host, port = guarded_stack.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port), local_addr=("127.0.0.7", 0))
    # A 1 MB body is announced and never sent: only the headers can have decided.
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\n\r\n"
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=3)
    writer.close()
    assert head.startswith(b"HTTP/1.1 401")
    body_start = head.lower()
    assert b"www-authenticate: bearer" in body_start


async def test_failed_authentications_from_one_address_are_refused_for_a_while(guarded_stack):
    async with _client(guarded_stack, "127.0.0.6", Authorization="Bearer llm_" + "x" * 43) as bad:
        statuses = [(await bad.get("/api/v1/queue")).status_code for _ in range(7)]
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]  # AUTH_FAILURES_PER_MINUTE=5
    async with _client(guarded_stack, "127.0.0.6", **AUTH) as same_address:
        refused = await same_address.get("/api/v1/queue")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    async with _client(guarded_stack, "127.0.0.1", **AUTH) as another:
        assert (await another.get("/api/v1/queue")).status_code == 200, "others are not"


async def test_the_key_cache_is_bounded(sessions, database_url):
    settings = Settings(_env_file=None, DATABASE_URL=database_url)
    auth = Authenticator(sessions, settings, cache_entries=5)
    for n in range(20):
        with pytest.raises(Exception, match="invalid or revoked"):
            await auth.authenticate(f"llm_{n:043d}")
    assert auth.cached == 5
