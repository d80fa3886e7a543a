"""Every wait has a bound, and each ends in a clear error and a `failed` record."""

import asyncio

import httpx
import pytest
from sqlalchemy import func, select

from shared.models import Generation
from tests import sse
from tests.conftest import AUTH
from tests.helpers import directive, final_record, sim_records, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
async def tight(tight_stack, redis_of):
    await redis_of(tight_stack)
    async with httpx.AsyncClient(base_url=tight_stack.url, headers=AUTH, timeout=30) as http:
        yield http


@pytest.fixture
async def workerless(workerless_stack, redis_of):
    redis = await redis_of(workerless_stack)
    async with httpx.AsyncClient(base_url=workerless_stack.url, headers=AUTH, timeout=30) as http:
        yield http, redis


async def test_no_first_token_in_time_is_a_504(tight, sessions):
    # FIRST_TOKEN_TIMEOUT_SECONDS=1.5 on this stack; the model takes 4 s to load.
    r = await tight.post("/api/v1/generate", json={"prompt": directive(ttft=4) + unique()})
    assert r.status_code == 504
    assert r.json()["error"]["type"] == "upstream_timeout"
    row = await final_record(sessions, r.headers["x-generation-id"])
    assert row.status == "failed" and row.error_type == "upstream_timeout"


async def test_a_stall_between_chunks_ends_the_stream_with_an_error(tight, sessions):
    # CHUNK_TIMEOUT_SECONDS=1; the model sends two tokens, then nothing.
    prompt = directive(tokens=["a", "b", "c"], fault="stall", after=2) + unique()
    r = await tight.post("/api/v1/generate", json={"prompt": prompt, "stream": True})
    parsed = sse.parse(r.text)
    assert parsed.text == "ab"
    assert parsed.events[-1].event == "error"
    assert parsed.events[-1].json()["error"]["type"] == "upstream_timeout"
    row = await final_record(sessions, r.headers["x-generation-id"])
    assert row.status == "failed" and row.response == "ab" and row.completion_tokens == 2


async def test_a_generation_over_the_total_bound_is_stopped(tight, sim, sessions):
    # GENERATION_TIMEOUT_SECONDS=3; this one would take 10 s.
    prompt = directive(n=50, rate=5) + unique()
    r = await tight.post("/api/v1/generate", json={"prompt": prompt, "stream": True})
    last = sse.parse(r.text).events[-1]
    assert last.event == "error" and "longer than" in last.json()["error"]["message"]
    (record,) = await sim_records(sim, prompt)
    assert record["outcome"] == "client_closed" and record["tokens_sent"] < 50


async def test_no_worker_in_time_is_a_queue_timeout(workerless, sessions):
    http, _ = workerless
    r = await http.post("/api/v1/generate", json={"prompt": unique()})  # QUEUE_TIMEOUT_SECONDS=1.5
    assert r.status_code == 503 and r.json()["error"]["type"] == "queue_timeout"
    row = await final_record(sessions, r.headers["x-generation-id"])
    assert row.status == "failed" and row.error_type == "queue_timeout" and row.started_at is None


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
