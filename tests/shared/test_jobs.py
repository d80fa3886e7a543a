"""Per-key limits, shared by every API replica through Redis: 429 with Retry-After."""

import asyncio

import pytest
from sqlalchemy import func, select

from shared.models import Generation
from tests.conftest import key_client
from tests.helpers import OpenStream, directive, final_record, unique

pytestmark = pytest.mark.e2e


async def test_requests_per_minute_are_limited_with_retry_after(stack, new_key, redis):
    key = (await new_key("rpm", rate_limit_rpm=3))["key"]
    async with key_client(stack, key) as http:
        for _ in range(3):
            assert (
                await http.post("/api/v1/generate", json={"prompt": unique()})
            ).status_code == 200
        r = await http.post("/api/v1/generate", json={"prompt": unique()})
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert "3 generations per minute" in r.json()["error"]["message"]


async def test_concurrency_is_limited_and_a_refused_request_costs_no_quota(
    stack, new_key, sessions
):
    key = (await new_key("one at a time", rate_limit_rpm=2, concurrency_limit=1))["key"]
    async with key_client(stack, key) as http:
        slow = directive(n=10, rate=20) + unique()
        async with OpenStream(
            http, "POST", "/api/v1/generate", json={"prompt": slow, "stream": True}
        ) as s:
            await s.events(1)
            for _ in range(3):  # refused while the first runs; none of them may count
                r = await http.post("/api/v1/generate", json={"prompt": unique()})
                assert r.status_code == 429 and "at once" in r.json()["error"]["message"]
                assert r.headers["retry-after"] == "1"
            await s.rest()
        await final_record(sessions, s.generation_id)
        # The first request used 1 of 2 per minute; the refused ones used nothing.
        second = await http.post("/api/v1/generate", json={"prompt": unique()})
        assert second.status_code == 200
        third = await http.post("/api/v1/generate", json={"prompt": unique()})
        assert third.status_code == 429 and "per minute" in third.json()["error"]["message"]


async def test_a_cancelled_generation_frees_its_place(stack, new_key, sessions):
    key = (await new_key("frees", concurrency_limit=1))["key"]
    async with key_client(stack, key) as http:
        slow = directive(n=200, rate=20) + unique()
        async with OpenStream(
            http, "POST", "/api/v1/generate", json={"prompt": slow, "stream": True}
        ) as s:
            await s.events(1)
            await http.post(f"/api/v1/generations/{s.generation_id}/cancel")
            await s.rest()
        await final_record(sessions, s.generation_id)
        await asyncio.sleep(0.1)
        assert (await http.post("/api/v1/generate", json={"prompt": unique()})).status_code == 200


async def test_a_full_queue_is_refused_at_once_with_retry_after(
    workerless, workerless_stack, sessions
):
    http, redis = workerless
    waiting = [
        asyncio.create_task(http.post("/api/v1/generate", json={"prompt": unique()}))
        for _ in range(2)
    ]
    await asyncio.sleep(0.5)  # MAX_QUEUE_DEPTH=2: both wait now
    async with sessions() as session:
        before = await session.scalar(select(func.count()).select_from(Generation))
    queued_before = await redis.zcard(workerless_stack.keys.arq_queue)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    r = await http.post("/api/v1/generate", json={"prompt": unique()})
    assert loop.time() - t0 < 1.0, "refused at once, not after a wait"
    assert r.status_code == 503 and r.json()["error"]["type"] == "queue_full"
    assert int(r.headers["Retry-After"]) >= 1
    assert await redis.zcard(workerless_stack.keys.arq_queue) == queued_before == 2
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Generation)) == before
    for task in waiting:
        assert (await task).status_code == 503
