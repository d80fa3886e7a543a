"""Who watches a generation: a client that leaves, one that comes back, one that hangs up."""

import asyncio

import httpx
import pytest
from sqlalchemy import select

from shared.models import Generation
from tests import sse
from tests.conftest import AUTH
from tests.helpers import (
    OpenStream,
    directive,
    eventually,
    final_record,
    sim_outcome,
    sim_records,
    unique,
)

pytestmark = pytest.mark.e2e
SLOW = {"n": 200, "rate": 20}  # 10 s if nobody stops it


async def test_dropped_stream_is_cancelled_after_the_grace_period(client, sim, sessions):
    prompt = directive(**SLOW) + unique()
    async with OpenStream(
        client, "POST", "/api/v1/generate", json={"prompt": prompt, "stream": True}
    ) as s:
        await s.events(3)
        generation_id = s.generation_id
    closed_at = asyncio.get_running_loop().time()
    record = await sim_outcome(sim, prompt, timeout=10)
    waited = asyncio.get_running_loop().time() - closed_at
    assert record["outcome"] == "client_closed", "the worker closed its stream to Ollama"
    assert waited < 1 + 2.5, "DISCONNECT_GRACE_SECONDS=1, then about a second to reach Ollama"
    row = await final_record(sessions, generation_id)
    assert row.status == "cancelled" and row.error_type == "cancelled"
    assert 3 <= row.completion_tokens <= record["tokens_sent"] < 200
    assert row.response and row.response == record["text"][: len(row.response)]


async def test_client_back_within_the_grace_period_keeps_the_generation(client, sim, sessions):
    prompt = directive(n=40, rate=40) + unique()
    async with OpenStream(
        client, "POST", "/api/v1/generate", json={"prompt": prompt, "stream": True}
    ) as s:
        seen = await s.events(2)
        generation_id = s.generation_id
    await asyncio.sleep(0.3)
    r = await client.get(
        f"/api/v1/generations/{generation_id}/stream", headers={"Last-Event-ID": seen[-1].id}
    )
    assert sse.parse(r.text).events[-1].json() == {}
    assert (await final_record(sessions, generation_id)).status == "succeeded"
    assert (await sim_outcome(sim, prompt))["outcome"] == "completed"


async def test_json_client_that_hangs_up_cancels_its_generation(stack, sim, sessions):
    prompt = directive(**SLOW) + unique()
    async with httpx.AsyncClient(
        base_url=stack.url, headers=AUTH, timeout=httpx.Timeout(0.8)
    ) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await impatient.post("/api/v1/generate", json={"prompt": prompt})
    record = await sim_outcome(sim, prompt, timeout=10)
    assert record["outcome"] == "client_closed" and record["tokens_sent"] < 200

    async def cancelled_row():
        async with sessions() as session:
            rows = await session.scalars(select(Generation).where(Generation.prompt == prompt))
            row = rows.first()
        return row if row is not None and row.status == "cancelled" else None

    row = await eventually(cancelled_row)
    assert row is not None and 0 < row.completion_tokens <= record["tokens_sent"]


async def test_queued_generation_whose_client_left_never_starts(
    tight_stack, redis_of, sim, sessions
):
    await redis_of(tight_stack)  # one slot, DISCONNECT_GRACE_SECONDS=0
    busy = directive(n=200, rate=100) + unique("busy")
    waiting = unique("waiting")
    async with httpx.AsyncClient(base_url=tight_stack.url, headers=AUTH, timeout=30) as http:
        async with OpenStream(
            http, "POST", "/api/v1/generate", json={"prompt": busy, "stream": True}
        ) as slot:
            await slot.events(1)
            async with OpenStream(
                http, "POST", "/api/v1/generate", json={"prompt": waiting, "stream": True}
            ) as queued:
                queued_id = queued.generation_id
            row = await final_record(sessions, queued_id, timeout=5)
            assert row.status == "cancelled" and row.started_at is None
            await http.post(f"/api/v1/generations/{slot.generation_id}/cancel")
        await asyncio.sleep(0.5)  # the slot is free again: a cancelled job must not start now
    assert await sim_records(sim, waiting) == []
