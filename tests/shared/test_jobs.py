"""Admission, shared by every API replica through Redis: a key's and each of its end users'
limits, its token budgets and the queue's bound; a refusal is 429 (503 for a full queue) with
Retry-After, and takes nothing."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from shared.models import Generation
from tests.conftest import MODEL, key_client
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


async def test_each_end_user_of_a_key_has_requests_per_minute_of_its_own(stack, new_key):
    key = (await new_key("per end user", end_user_rate_limit_rpm=2, rate_limit_rpm=0))["key"]
    alice = {"X-End-User": "alice"}
    async with key_client(stack, key) as http:
        for _ in range(2):
            r = await http.post("/api/v1/generate", json={"prompt": unique()}, headers=alice)
            assert r.status_code == 200
        r = await http.post("/api/v1/generate", json={"prompt": unique()}, headers=alice)
        assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limited"
        assert "each end user of this key may start 2" in r.json()["error"]["message"]
        assert 1 <= int(r.headers["retry-after"]) <= 60
        # Another end user (named by OpenAI's `user` field), and no end user at all, go on.
        chat = {"model": MODEL, "messages": [{"role": "user", "content": unique()}]}
        r = await http.post("/v1/chat/completions", json={**chat, "user": "bob"})
        assert r.status_code == 200, r.text
        for _ in range(3):
            assert (
                await http.post("/api/v1/generate", json={"prompt": unique()})
            ).status_code == 200


async def test_each_end_user_of_a_key_has_generations_at_once_of_its_own(stack, new_key):
    key = (await new_key("one each", end_user_concurrency_limit=1, concurrency_limit=0))["key"]
    async with key_client(stack, key) as http:
        slow = directive(n=10, rate=20) + unique()
        async with OpenStream(
            http,
            "POST",
            "/api/v1/generate",
            json={"prompt": slow, "stream": True},
            headers={"X-End-User": "alice"},
        ) as s:
            await s.events(1)
            r = await http.post(
                "/api/v1/generate", json={"prompt": unique()}, headers={"X-End-User": "alice"}
            )
            assert r.status_code == 429 and "each end user" in r.json()["error"]["message"]
            assert "at once" in r.json()["error"]["message"]
            r = await http.post(
                "/api/v1/generate", json={"prompt": unique()}, headers={"X-End-User": "bob"}
            )
            assert r.status_code == 200
            await s.rest()
        r = await http.post(
            "/api/v1/generate", json={"prompt": unique()}, headers={"X-End-User": "alice"}
        )
        assert r.status_code == 200, "the ended generation gave its place back"


@pytest.mark.parametrize("user", ["x" * 201, "a\x00b"])
async def test_an_end_user_name_that_cannot_be_kept_is_refused(client, user):
    chat = {"model": MODEL, "messages": [{"role": "user", "content": unique()}], "user": user}
    r = await client.post("/v1/chat/completions", json=chat)
    assert r.status_code == 400 and "user" in r.json()["error"]["message"]


async def test_a_spent_token_budget_refuses_until_it_resets_or_is_raised(
    stack, new_key, client, sessions
):
    made = await new_key("budget", tokens_per_day=1)
    async with key_client(stack, made["key"]) as http:
        first = await http.post("/api/v1/generate", json={"prompt": unique()})
        assert first.status_code == 200, "a budget not yet spent admits the request"
        row = await final_record(sessions, first.headers["x-generation-id"])
        spent = row.prompt_tokens + row.completion_tokens
        refused = await http.post("/api/v1/generate", json={"prompt": unique()})
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["type"] == "budget_exceeded"
        assert "1 tokens a day" in refused.json()["error"]["message"]
        now = datetime.now(UTC)
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        assert abs(int(refused.headers["retry-after"]) - (midnight - now).total_seconds()) < 5
        usage = (await http.get("/api/v1/usage")).json()
        assert usage["budgets"] == {
            "tokens_per_day": 1,
            "tokens_per_month": None,
            "used_today": spent,
            "used_this_month": spent,
        }
        raised = await client.patch(f"/api/v1/keys/{made['id']}", json={"tokens_per_day": 0})
        assert raised.status_code == 200 and raised.json()["tokens_per_day"] == 0
        assert (await http.post("/api/v1/generate", json={"prompt": unique()})).status_code == 200


async def test_a_monthly_budget_counts_the_whole_month(stack, new_key, sessions):
    made = await new_key("monthly", tokens_per_month=1)
    async with key_client(stack, made["key"]) as http:
        first = await http.post("/api/v1/generate", json={"prompt": unique()})
        await final_record(sessions, first.headers["x-generation-id"])
        r = await http.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": unique()}]},
        )
    assert r.status_code == 429 and r.json()["error"]["code"] == "budget_exceeded"
    assert r.json()["error"]["type"] == "insufficient_quota"  # OpenAI's own word for it
    assert "a month" in r.json()["error"]["message"]
    assert int(r.headers["retry-after"]) >= 1


async def test_a_cancelled_generation_counts_what_it_used_against_the_budget(
    stack, new_key, sessions
):
    made = await new_key("cancelled budget", tokens_per_day=10_000)
    async with key_client(stack, made["key"]) as http:
        slow = directive(n=200, rate=20) + unique()
        async with OpenStream(
            http, "POST", "/api/v1/generate", json={"prompt": slow, "stream": True}
        ) as s:
            await s.events(4)
            await http.post(f"/api/v1/generations/{s.generation_id}/cancel")
            await s.rest()
        row = await final_record(sessions, s.generation_id)
        assert row.status == "cancelled"
        used = (await http.get("/api/v1/usage")).json()["budgets"]["used_today"]
    assert used >= 3 and used == row.completion_tokens + (row.prompt_tokens or 0), used
