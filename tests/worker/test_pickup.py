"""How a worker picks jobs up: first come, first served, and at once when a slot frees."""

import asyncio

import pytest

from tests.helpers import (
    unique,
)

pytestmark = pytest.mark.e2e


async def test_jobs_start_on_the_wake_up_notice_not_at_the_next_poll(lab):
    lab.start_worker(WORKER_POLL_SECONDS=30)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    r = await lab.http.post("/api/v1/generate", json={"prompt": unique()})
    assert r.status_code == 200
    assert loop.time() - t0 < 5, "with a 30 s poll, only the wake-up can start it this soon"
