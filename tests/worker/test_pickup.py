"""How a worker picks jobs up: first come, first served, and at once when a slot frees."""

import asyncio
import itertools

import pytest

from tests.helpers import directive, eventually, final_record, sim_records, unique

pytestmark = pytest.mark.e2e


async def test_waiting_generations_start_in_order_as_slots_free(lab, sim, sessions):
    # One slot, and a poll too slow to matter: what starts the waiting jobs is the freed slot.
    lab.start_worker(WORKER_CONCURRENCY=1, WORKER_POLL_SECONDS=60)
    blocker = directive(n=10, rate=10) + unique("blocker")
    first = asyncio.create_task(lab.http.post("/api/v1/generate", json={"prompt": blocker}))
    assert await eventually(lambda: sim_records(sim, blocker))
    waiting = []
    for n in range(3):  # queued one after the other, while the slot is taken
        prompt = directive(n=2, rate=50) + unique(f"waiting-{n}")
        body = {"prompt": prompt}
        waiting.append(asyncio.create_task(lab.http.post("/api/v1/generate", json=body)))
        assert await eventually(lambda n=n: _depth_is(lab, n + 1))
    answers = [await task for task in [first, *waiting]]
    assert [a.status_code for a in answers] == [200] * 4
    rows = [await final_record(sessions, a.json()["id"]) for a in answers]
    started = [row.started_at for row in rows]
    assert started == sorted(started), "the waiting ones started in the order they came"
    # Each started as soon as the one before it ended, not at the next poll (60 s away).
    for before, after in itertools.pairwise(rows):
        assert (after.started_at - before.finished_at).total_seconds() < 10


async def _depth_is(lab, n: int) -> bool:
    return await lab.redis.zcard(lab.keys.waiting) == n
