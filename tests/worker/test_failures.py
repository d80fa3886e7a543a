"""Workers that die, stop or restart: real worker processes, killed and signalled."""

import asyncio
import signal
import uuid
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from shared.jobs import GenerationJob, JobSubmitter, Limits
from shared.keys import Keys
from shared.models import Generation
from shared.redis import RedisLink
from shared.stream import CHUNK, START, Event, log_append, read_log
from tests import sse
from tests.helpers import (
    OpenStream,
    directive,
    final_record,
    sim_outcome,
    sim_records,
    unique,
)

pytestmark = pytest.mark.e2e


async def test_killed_worker_ends_the_stream_with_an_error_soon(lab, sim, sessions):
    worker = lab.start_worker()
    prompt = directive(n=200, rate=20) + unique()
    async with OpenStream(
        lab.http, "POST", "/api/v1/generate", json={"prompt": prompt, "stream": True}
    ) as s:
        await s.events(3)
        loop = asyncio.get_running_loop()
        worker.signal(signal.SIGKILL)
        killed_at = loop.time()
        rest = await s.rest()
        noticed = loop.time() - killed_at
    last = rest.events[-1]
    assert last.event == "error" and last.json()["error"]["type"] == "worker_lost"
    # Heartbeats every 0.5 s, dead after 3 missed, checked on 0.5 s idle ticks: seconds, not
    # arq's lock expiry (job timeout + 10 s, here 940 s).
    assert noticed < 10
    row = await final_record(sessions, s.generation_id)
    assert row.status == "failed" and row.error_type == "worker_lost"

    # When arq's lock on the job expires, another worker must not start it again.
    await lab.redis.delete(Keys.arq_in_progress(s.generation_id))
    lab.start_worker()
    await asyncio.sleep(1.0)  # several polls (WORKER_POLL_SECONDS=0.1)
    assert len(await sim_records(sim, prompt)) == 1


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
    link = RedisLink(lab.redis_url)
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


async def test_sigterm_lets_the_running_generation_finish_and_takes_no_new_one(lab, sim, sessions):
    worker = lab.start_worker(WORKER_CONCURRENCY=2)
    prompt = directive(n=30, rate=15) + unique()  # 2 s
    async with OpenStream(
        lab.http, "POST", "/api/v1/generate", json={"prompt": prompt, "stream": True}
    ) as s:
        await s.events(2)
        worker.signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        late = asyncio.create_task(
            lab.http.post("/api/v1/generate", json={"prompt": unique("late")})
        )
        rest = await s.rest()
    assert rest.events[-1].json() == {}, "the running generation finished"
    assert (await final_record(sessions, s.generation_id)).status == "succeeded"
    await asyncio.wait_for(asyncio.to_thread(worker.proc.wait), 10)
    assert not late.done(), "the stopping worker took no new job"
    lab.start_worker()
    assert (await late).status_code == 200


async def test_jobs_start_on_the_wake_up_notice_not_at_the_next_poll(lab):
    lab.start_worker(WORKER_POLL_SECONDS=30)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    r = await lab.http.post("/api/v1/generate", json={"prompt": unique()})
    assert r.status_code == 200
    assert loop.time() - t0 < 5, "with a 30 s poll, only the wake-up can start it this soon"


async def test_a_hung_database_does_not_hold_the_answer(lab, sim):
    # A "PostgreSQL" that accepts connections and never answers: the worker's record writes
    # hang (up to their own timeouts), and the answer must not wait for them.
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()  # until the worker gives up and closes

    blackhole = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = blackhole.sockets[0].getsockname()[1]
    try:
        lab.start_worker(DATABASE_URL=f"postgresql://llm@127.0.0.1:{port}/llm")
        prompt = directive(tokens=["held ", "back?"]) + unique()
        loop = asyncio.get_running_loop()
        asked = loop.time()
        answer = await lab.http.post("/api/v1/generate", json={"prompt": prompt})
        took = loop.time() - asked
    finally:
        blackhole.close()
        for writer in held:
            writer.close()
        await asyncio.sleep(0.1)  # let the handlers see their end
    assert answer.status_code == 200 and answer.json()["response"] == "held back?"
    # Bounded by the worker's 2 s wait for its record, not the database's 5 s connect timeout.
    assert took < 4.5


async def test_a_resumed_stream_still_notices_a_dead_worker(lab):
    worker = lab.start_worker()
    prompt = directive(n=200, rate=20) + unique()
    async with OpenStream(
        lab.http, "POST", "/api/v1/generate", json={"prompt": prompt, "stream": True}
    ) as s:
        seen = await s.events(3)  # past the worker's start event
        generation_id = s.generation_id
    worker.signal(signal.SIGKILL)
    # The resumed relay never sees the start event again, yet knows which worker to watch.
    r = await lab.http.get(
        f"/api/v1/generations/{generation_id}/stream",
        headers={"Last-Event-ID": seen[-1].id},
        timeout=20,
    )
    last = sse.parse(r.text).events[-1]
    assert last.event == "error" and last.json()["error"]["type"] == "worker_lost"
