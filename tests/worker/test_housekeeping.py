"""The worker's heartbeat (with its Ollama's state), how a worker that stops beating is noticed, and
the pruning of arq's abort set (#485)."""

import asyncio
import signal

import orjson
import pytest
from arq.utils import timestamp_ms

from shared.config import Settings
from shared.keys import Keys
from shared.ollama import OllamaClient
from tests import sse
from tests.helpers import (
    OpenStream,
    SilentServer,
    directive,
    final_record,
    sim_records,
    unique,
)
from worker.housekeeping import Ewma, Housekeeping, OllamaCheck


@pytest.fixture
async def keeper(redis, keys, simulator):
    """`keeper(ollama_url=..., model=...)`: a Housekeeping like a worker's, with fake load."""
    clients: list[OllamaClient] = []

    def make(ollama_url: str | None = None, model: str = "qwen3:8b") -> Housekeeping:
        client = OllamaClient(Settings(_env_file=None, OLLAMA_BASE_URL=ollama_url or simulator))
        clients.append(client)
        durations = Ewma()
        durations.add(2.0)
        return Housekeeping(
            redis,
            keys,
            "w-test",
            interval_s=1.0,
            slots=4,
            running=lambda: 2,
            abort_keep_s=60.0,
            ollama=OllamaCheck(client, model),
            durations=durations,
        )

    yield make
    for client in clients:
        await client.aclose()


async def test_stale_abort_entries_are_pruned_and_fresh_ones_kept(redis, keys, keeper):
    now = timestamp_ms()
    await redis.zadd(
        keys.arq_abort, {"old": now - 3_600_000, "older": now - 86_400_000, "fresh": now}
    )
    # arq's abort set is arq's, shared by every namespace: count only this test's entries.
    assert await keeper().prune_aborts() >= 2
    left = await redis.zmscore(keys.arq_abort, ["old", "older", "fresh"])
    assert left[:2] == [None, None] and left[2] is not None
    await redis.zrem(keys.arq_abort, "fresh")


async def test_heartbeat_names_the_worker_and_expires(redis, keys, keeper):
    housekeeping = keeper()
    await housekeeping.start()
    beat = orjson.loads(await redis.get(keys.worker("w-test")))
    assert beat["running"] == 2 and beat["slots"] == 4 and beat["average_seconds"] == 2.0
    assert beat["ollama"] == {"ok": True, "error": None, "version": "0.12.6-sim"}
    assert 0 < await redis.pttl(keys.worker("w-test")) <= 3000
    assert await redis.zscore(keys.workers, "w-test") is not None
    await housekeeping.aclose()
    assert not await redis.exists(keys.worker("w-test"))


@pytest.mark.parametrize(
    ("url", "model", "error"),
    [
        ("http://127.0.0.1:9", "qwen3:8b", "cannot reach Ollama"),
        (None, "missing:7b", "does not have the model 'missing:7b'"),
    ],
)
async def test_heartbeat_says_when_ollama_cannot_serve(redis, keys, keeper, url, model, error):
    housekeeping = keeper(url, model)
    await housekeeping.start()
    beat = orjson.loads(await redis.get(keys.worker("w-test")))
    assert beat["ollama"]["ok"] is False and error in beat["ollama"]["error"]
    await housekeeping.aclose()


async def test_a_hung_ollama_does_not_stop_the_heartbeat(redis, keys, keeper):
    async with SilentServer() as hung:  # an "Ollama" that accepts connections, never answers
        housekeeping = keeper(f"http://127.0.0.1:{hung.port}")
        try:
            for _ in range(3):  # each beat returns at once, with the last known state
                await asyncio.wait_for(housekeeping.beat(), timeout=1.0)
                beat = orjson.loads(await redis.get(keys.worker("w-test")))
                assert beat["ollama"]["ok"] is False
            for _ in range(40):  # the check runs beside the beats: it did ask the hung Ollama
                if hung.held:
                    break
                await asyncio.sleep(0.05)
            assert hung.held
        finally:
            await housekeeping.aclose()


def test_the_average_follows_recent_durations():
    average = Ewma(alpha=0.5)
    for sample in (10.0, 2.0, 2.0, 2.0):
        average.add(sample)
    assert average.value == pytest.approx(3.0)


@pytest.mark.e2e
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
    # The defaults: heartbeats every second, dead after 3 missed, checked every second while
    # the stream is quiet: about 5 s (not arq's lock expiry, job timeout + 10 s = 940 s).
    assert noticed < 7
    row = await final_record(sessions, s.generation_id)
    assert row.status == "failed" and row.error_type == "worker_lost"
    # The record keeps what the client had received.
    delivered = "".join(e.json()["response"] for e in rest.events if "response" in e.json())
    assert row.chunk_count >= 3 and row.response.startswith(delivered[:20])

    # When arq's lock on the job expires, another worker must not start it again.
    await lab.redis.delete(Keys.arq_in_progress(s.generation_id))
    lab.start_worker()
    await asyncio.sleep(1.0)  # several polls (WORKER_POLL_SECONDS=0.1)
    assert len(await sim_records(sim, prompt)) == 1


@pytest.mark.e2e
async def test_a_json_client_hears_of_a_killed_worker_as_soon(lab):
    worker = lab.start_worker()
    loop = asyncio.get_running_loop()
    answer = asyncio.create_task(
        lab.http.post("/api/v1/generate", json={"prompt": directive(n=200, rate=20) + unique()})
    )
    await asyncio.sleep(1.5)  # it runs
    worker.signal(signal.SIGKILL)
    killed_at = loop.time()
    r = await answer
    assert r.status_code == 502 and r.json()["error"]["type"] == "worker_lost"
    assert loop.time() - killed_at < 7


@pytest.mark.e2e
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
