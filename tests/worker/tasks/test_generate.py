"""The generate task end to end: the worker's bounds on Ollama, re-runs after a crash, and an
answer that never waits for a slow database."""

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from shared.config import Settings
from shared.jobs import GenerationJob, JobSubmitter, Limits
from shared.keys import Keys
from shared.models import Generation
from shared.redis import RedisLink
from shared.stream import CHUNK, START, Event, log_append, read_log
from tests import sse
from tests.helpers import (
    SilentServer,
    directive,
    final_record,
    sim_outcome,
    sim_records,
    unique,
)

pytestmark = pytest.mark.e2e


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


async def seed_attempt(redis: Redis, keys: Keys, generation_id: str, *events: Event) -> None:
    for event in events:
        await redis.execute_command(*log_append(keys, generation_id, event.seq, event.encode()))


async def insert_row(sessions, generation_id: str, prompt: str) -> None:
    async with sessions() as session, session.begin():
        session.add(
            Generation(
                id=uuid.UUID(generation_id),
                status="running",
                llm_model="qwen3:8b",
                stream=True,
                prompt=prompt,
                queued_at=datetime.now(UTC),
                chunk_count=0,
                attempts=1,
            )
        )


@pytest.mark.parametrize("streamed", [True, False])
async def test_a_rerun_refuses_a_half_streamed_generation(lab, sim, sessions, streamed):
    """An earlier attempt that had sent text must not be run again and concatenated; one that
    had sent nothing may run."""
    generation_id = str(uuid.uuid4())
    prompt = unique()
    await insert_row(sessions, generation_id, prompt)
    earlier = [Event(1, START, {"worker": "gone", "attempt": 1})]
    if streamed:
        earlier.append(Event(2, CHUNK, "half an answ"))
    await seed_attempt(lab.redis, lab.keys, generation_id, *earlier)
    job = GenerationJob(
        generation_id=generation_id, request={"model": "qwen3:8b", "prompt": prompt}, stream=True
    )
    # As after a crash: arq counts this pick-up as the second try.
    await lab.redis.set(Keys.arq_retry(generation_id), 1)
    link = RedisLink(Settings(_env_file=None, REDIS_URL=lab.redis_url))
    submitter = JobSubmitter(link, lab.keys)
    submitter.start()
    await submitter.submit(
        job,
        max_depth=10,
        expires_s=60,
        clients_ttl_s=60,
        limits=Limits(owner="master"),
        longest_s=60,
    )
    await submitter.aclose()
    await link.aclose()
    lab.start_worker()
    row = await final_record(sessions, generation_id)
    events = await read_log(lab.redis, lab.keys, generation_id)
    if streamed:
        assert row.status == "failed" and row.error_type == "worker_lost"
        assert await sim_records(sim, prompt) == []
        assert [e.type for e in events] == ["start", "chunk", "error"]
    else:
        assert row.status == "succeeded"
        assert (await sim_outcome(sim, prompt))["outcome"] == "completed"
        assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_a_hung_database_does_not_hold_the_answer(lab, sim):
    # A "PostgreSQL" that accepts connections and never answers: the worker's record writes
    # hang (up to their own timeouts), and the answer must not wait for them.
    async with SilentServer() as blackhole:
        lab.start_worker(DATABASE_URL=f"postgresql://llm@127.0.0.1:{blackhole.port}/llm")
        prompt = directive(tokens=["held ", "back?"]) + unique()
        loop = asyncio.get_running_loop()
        asked = loop.time()
        answer = await lab.http.post("/api/v1/generate", json={"prompt": prompt})
        took = loop.time() - asked
    assert answer.status_code == 200 and answer.json()["response"] == "held back?"
    # Bounded by the worker's 2 s wait for its record, not the database's 5 s connect timeout.
    assert took < 4.5
